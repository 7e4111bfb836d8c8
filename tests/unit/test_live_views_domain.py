"""The pure parts of the live views: histograms, progress and ETA, the Gantt lanes, Flower's command line, event messages."""

from __future__ import annotations

import pytest

from swarm_celery.domain.board import without_subject
from swarm_celery.domain.flower import FlowerRequest, plan_flower
from swarm_celery.domain.histogram import LATENCY_SECONDS, Histogram, histogram_of
from swarm_celery.domain.progress import Remaining, elapsed_ratio, eta, remaining_critical_path
from swarm_celery.domain.timeline import chart
from swarm_celery.domain.views import AttemptView


def test_a_histogram_counts_each_value_in_its_bucket_and_exposes_them_cumulatively() -> None:
    hist = histogram_of([0.5, 1.0, 1.5, 100.0], (1.0, 2.0))
    assert hist.counts == [2, 1, 1] and hist.count == 4 and hist.total == 103.0
    assert hist.cumulative() == [("1.0", 2), ("2.0", 3), ("+Inf", 4)]


def test_a_saved_histogram_reads_back_and_a_foreign_one_reads_as_empty() -> None:
    hist = histogram_of([0.003, 0.2], LATENCY_SECONDS)
    assert Histogram.from_json(hist.to_json(), LATENCY_SECONDS) == hist
    assert Histogram.from_json(hist.to_json(), (1.0, 2.0)).count == 0  # other buckets: start again, do not mix
    assert Histogram.from_json("not json", LATENCY_SECONDS).count == 0 and Histogram.from_json("", LATENCY_SECONDS).count == 0


def test_the_eta_is_the_longest_remaining_chain_on_the_wall_clock() -> None:
    waiting = Remaining(rank=100.0, expected=10.0)
    building = Remaining(rank=150.0, expected=50.0, started_at=1000.0)  # 30 s of its 50 (×0.5 pace: 25) done
    assert remaining_critical_path([waiting, building], now=1030.0, pace=0.5) == pytest.approx(75.0 - 25.0)
    assert remaining_critical_path([waiting], now=0.0, pace=2.0) == 200.0
    assert eta("running", {"published": 1, "needed": 1}, 42.0) == 42.0
    assert eta("complete", {"published": 2}, 42.0) is None and eta("running", {"published": 2}, 0.0) is None


def test_elapsed_against_expected_tells_a_long_tail() -> None:
    assert elapsed_ratio(100.0, 10.0, now=130.0, pace=1.0) == 3.0
    assert elapsed_ratio(None, 10.0, now=130.0, pace=1.0) is None and elapsed_ratio(100.0, 0.0, now=130.0, pace=1.0) is None


def attempt(name: str, drone: str, start: float, end: float | None, outcome: str | None = "success") -> AttemptView:
    return AttemptView(name, f"cat/{name}-1", drone, "finished" if end else "started", outcome if end else None, f"drone.{drone}",
                       start - 1, start, end, end, None, None, None, None, None, None)


def test_the_gantt_chart_gives_a_drone_one_lane_per_concurrent_build_and_shows_idle_time() -> None:
    found = chart([attempt("a", "box1", 0.0, 10.0), attempt("b", "box1", 5.0, 15.0), attempt("c", "box1", 12.0, 20.0),
                   attempt("d", "nas", 0.0, 5.0), attempt("e", "nas", 15.0, None)], now=20.0)
    lanes = {(lane.drone, lane.slot): [b.attempt for b in lane.bars] for lane in found.lanes}
    assert lanes == {("box1", 0): ["a", "c"], ("box1", 1): ["b"], ("nas", 0): ["d", "e"]}
    assert (found.start, found.end) == (0.0, 20.0)
    e = found.lanes[-1].bars[-1]
    assert e.state == "building" and e.end == 20.0 and e.x == pytest.approx(750.0) and e.width == pytest.approx(250.0)
    assert found.busy == {"box1": pytest.approx(28 / 20), "nas": pytest.approx(10 / 20)}  # nas idle half the time
    assert chart([], now=5.0).lanes == ()


def test_flower_asks_for_the_admin_token_and_keeps_its_state() -> None:
    plan = plan_flower(FlowerRequest(db="/var/lib/bs/flower/flower.db"), {}, "s3cret")
    assert plan.basic_auth == "admin:s3cret" and not any("s3cret" in a for a in plan.argv)  # the secret is never in argv
    assert "--persistent=True" in plan.argv and "--db=/var/lib/bs/flower/flower.db" in plan.argv
    assert plan.url == "http://127.0.0.1:5555/"


def test_flowers_own_variables_win_and_a_prefix_serves_behind_a_proxy() -> None:
    plan = plan_flower(FlowerRequest(url_prefix="/flower/", persistent=False), {"FLOWER_BASIC_AUTH": "ops:pw", "FLOWER_PORT": "5600"}, "tok")
    assert plan.basic_auth == "" and "--url_prefix=flower" in plan.argv and "--port=5600" in plan.argv
    assert not any(a.startswith("--persistent") for a in plan.argv) and plan.url == "http://127.0.0.1:5600/flower/"


def test_flower_without_any_authentication_listens_only_on_the_loopback() -> None:
    assert plan_flower(FlowerRequest(), {}, "").basic_auth == ""
    with pytest.raises(ValueError, match="needs authentication: set SWARM_API_TOKEN"):
        plan_flower(FlowerRequest(address="0.0.0.0"), {}, "")
    assert plan_flower(FlowerRequest(address="0.0.0.0"), {}, "tok").address == "0.0.0.0"


@pytest.mark.parametrize(("message", "subject", "shown"), [
    ("dev-libs/gmp-6.3.0 built by box1", "dev-libs/gmp-6.3.0", "built by box1"),
    ("box1: its worker shut down", "box1", "its worker shut down"),
    ("every package reached a final state", None, "every package reached a final state"),
    ("box10 joined", "box1", "box10 joined"),
])
def test_an_events_subject_is_not_repeated_in_its_message(message: str, subject: str | None, shown: str) -> None:
    assert without_subject(message, subject) == shown
