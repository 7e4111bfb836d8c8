"""The live views' reads on a real SQLite record, the login cookie, the coordinator's batch timings, build logs, every --json."""

from __future__ import annotations

import importlib
from pathlib import Path

import click
import pytest

from swarm_celery.api.ui.parts import safe_next, segments
from swarm_celery.api.ui.session import Signer, csrf_ok
from swarm_celery.buildlogs import BuildLogs
from swarm_celery.cli.main import COMMANDS
from swarm_celery.domain.controls import PAUSED_FLAG
from swarm_celery.domain.histogram import LATENCY_SECONDS, Histogram, timings_flag
from swarm_celery.services.timings import BatchTimings
from swarm_celery.store.memory import MemoryStore
from swarm_celery.store.queries import Queries
from tests.coordinator_kit import REQUEST, FakeClock, World, failure, identity, success


def queries(world: World, offline_after: float = 120.0) -> Queries:
    return Queries(world.store.engine, offline_after=offline_after, clock=world.clock.now)


def test_a_drone_silent_past_offline_after_reads_offline_though_no_coordinator_said_so(world: World) -> None:
    world.store.register_drone(identity("drone-2"))
    world.clock.t += 100
    world.store.touch_drone("drone-2", "amd64")
    world.clock.t += 50  # drone-1 silent 150 s, drone-2 50 s
    assert {d.name: d.state for d in queries(world).fleet()} == {"drone-1": "offline", "drone-2": "online"}
    assert queries(world).overview().drones == {"offline": 1, "online": 1}


def test_a_session_is_found_by_the_start_of_its_id(world: World) -> None:
    assert queries(world).session_ids("s") == ["s1"] and queries(world).session_ids("x") == []
    assert queries(world).session_ids("%") == []  # a LIKE wildcard is a character, not a pattern


def test_overview_plan_and_metrics_follow_a_session(world: World) -> None:
    world.store.register_drone(identity("drone-1", slots=2))
    world.coordinator.plan("s1")
    (first, _), (second, _) = world.dispatcher.sent[:2]
    q = queries(world)
    assert {r.cpv: r.stage for r in q.plan("s1")} == {"sys-libs/base-1": "building", "sys-libs/rt-1": "building",
                                                       "dev-libs/lib-1": "waiting", "app-misc/app-1": "waiting", "app-misc/tool-1": "ready"}
    assert q.plan_stages("s1") == {"ready": 1, "waiting": 2, "building": 2, "blocked": 0, "done": 0}
    assert [r.cpv for r in q.plan("s1", "waiting", contains="app")] == ["app-misc/app-1"]
    world.coordinator.build_started(first.attempt_id, "drone-1", "amd64", world.clock.t)
    world.coordinator.build_finished(success(first))
    world.clock.t += 2  # the coordinator saves its batch timings every second
    world.coordinator.build_finished(failure(second))
    progress = q.overview().sessions[0]
    assert progress.session.session == "s1" and progress.done == 1 and progress.eta_seconds is not None and progress.eta_seconds > 0
    metrics = q.record_metrics()
    assert metrics.build_seconds["success"].count == 1 and metrics.failures == {"compile": 1}
    assert metrics.queue_depth[("amd64", "ready")] >= 1 and metrics.publish_latency.count == 1
    assert metrics.coordinator["build_finished"].count == 2  # the coordinator saved its batch timings in the record
    assert not q.swarm_paused()
    world.store.set_flag(PAUSED_FLAG, "1")
    assert q.swarm_paused() and q.overview().paused


def test_the_coordinators_batch_timings_are_saved_now_and_then_and_resume_after_a_restart() -> None:
    clock = FakeClock()
    store = MemoryStore(clock)
    timings = BatchTimings(store, clock, save_every=5.0)
    timings.observe("build_finished", 0.003)  # the first is saved at once
    timings.observe("build_finished", 0.2)  # within 5 s: kept in memory
    assert Histogram.from_json(store.get_flag(timings_flag("build_finished")), LATENCY_SECONDS).count == 1
    clock.t += 6
    timings.observe("build_finished", 0.004)
    assert Histogram.from_json(store.get_flag(timings_flag("build_finished")), LATENCY_SECONDS).count == 3
    again = BatchTimings(store, clock)  # a restarted coordinator counts on from what was saved
    again.observe("build_finished", 0.01)
    assert Histogram.from_json(store.get_flag(timings_flag("build_finished")), LATENCY_SECONDS).count == 4


def test_a_build_log_is_read_in_whole_lines_while_it_grows_and_ends_with_its_attempt(world: World, tmp_path: Path) -> None:
    world.coordinator.plan("s1")
    request, _ = world.dispatcher.sent[0]
    logs = BuildLogs(tmp_path / "logs", Queries(world.store.engine))
    assert logs.which("sys-libs/base") == logs.which("=sys-libs/base-1") == logs.which(request.attempt_id) == request.attempt_id
    with pytest.raises(Exception, match="no attempt nope/nope"):
        logs.which("nope/nope")
    first = logs.read(request.attempt_id)
    assert (first.exists, first.done, first.text) == (False, False, "")
    (tmp_path / "logs").mkdir()
    (tmp_path / "logs" / f"{request.attempt_id}.log").write_bytes(b"line one\nline tw")
    chunk = logs.read(request.attempt_id)
    assert (chunk.text, chunk.next_offset, chunk.done) == ("line one\n", 9, False)  # the half-written line waits
    world.coordinator.build_finished(success(request))
    rest = logs.read(request.attempt_id, chunk.next_offset)
    assert (rest.text, rest.done) == ("line tw", True)


def test_the_login_cookie_holds_no_token_and_only_its_own_csrf_token_passes() -> None:
    signer = Signer("admin-token")
    cookie = signer.issue(now=1000.0)
    assert "admin-token" not in cookie
    viewer = signer.check(cookie, now=1001.0)
    assert viewer is not None and viewer.admin and csrf_ok(viewer, viewer.csrf) and not csrf_ok(viewer, "guess")
    other = signer.check(signer.issue(now=1000.0), now=1001.0)
    assert other is not None and other.csrf != viewer.csrf  # each login its own CSRF token
    assert signer.check(cookie, now=1000.0 + 13 * 3600) is None  # expired
    assert Signer("another-token").check(cookie, now=1001.0) is None  # a new SWARM_API_TOKEN logs everyone out
    assert signer.check(cookie[:-1] + ("0" if cookie[-1] != "0" else "1"), now=1001.0) is None
    assert Signer("").check(Signer("").issue(), now=1001.0) is None  # no admin token: no admin


@pytest.mark.parametrize(("target", "safe"), [("/ui/plan?stage=ready", "/ui/plan?stage=ready"), ("https://evil.example/", "/ui"),
                                              ("//evil.example/ui", "/ui"), ("/ui\\..\\x", "/ui")])
def test_after_logging_in_only_a_dashboard_page_is_a_destination(target: str, safe: str) -> None:
    assert safe_next(target) == safe


def test_the_progress_bar_is_the_plan_in_final_states_first() -> None:
    assert segments({"published": 2, "needed": 1, "building": 1}, 4) == [("published", 0.0, 50.0, 2), ("building", 50.0, 25.0, 1),
                                                                          ("needed", 75.0, 25.0, 1)]


def _commands() -> list[tuple[str, click.Command]]:
    found = []
    for name, target in COMMANDS.items():
        module, attribute = target.split(":")
        command = getattr(importlib.import_module(f"swarm_celery.cli.{module}"), attribute)
        found.append((name, command))
        if isinstance(command, click.Group):
            found += [(f"{name} {sub}", c) for sub, c in command.commands.items()]
    return found


@pytest.mark.parametrize(("name", "command"), _commands(), ids=lambda v: v if isinstance(v, str) else "")
def test_every_json_option_says_what_it_prints(name: str, command: click.Command) -> None:
    for param in command.params:
        if isinstance(param, click.Option) and "--json" in param.opts:
            assert param.help, f"`build-swarm {name} --json` has no help text"


def test_a_new_session_takes_the_swarms_pace_until_it_has_builds_of_its_own(world: World) -> None:
    world.coordinator.plan("s1")
    while world.dispatcher.sent:
        request, _drone = world.dispatcher.sent.pop(0)
        world.coordinator.build_finished(success(request))
    q = queries(world)
    learned = q._pace("s1", world.clock.t)
    assert learned == 1 / 16  # five builds of 1 s, each expected to take 16 s
    world.store.create_session("s2", REQUEST, simulated=True)
    world.coordinator.plan("s2")
    assert q._pace("s2", world.clock.t) == learned
