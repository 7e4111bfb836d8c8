"""Build profiles through the live stack: real portage, a coordinator, beat and drones.

The first sync builds the whole plan; the second builds nothing (every identity was published);
a package.use edit rebuilds that package only; a sync of the tree (here: zlib's sub-slot in the
md5-cache changes) is found by beat's tree check, snapshotted, and rebuilds zlib and exactly the
packages that bind it with ``:=`` — with no command run by hand.
"""

from __future__ import annotations

import json
from collections import Counter
from collections.abc import Iterator
from pathlib import Path

import pytest

from swarm_celery.resolve.synthetic import synthetic_world, write_synthetic_repo
from tests.integration.swarm_kit import Swarm, live_swarm

pytestmark = pytest.mark.slow


@pytest.fixture
def swarm(tmp_path: Path, portage_cache: Path, redis_url: str) -> Iterator[Swarm]:
    durations = tmp_path / "durations.csv"
    durations.write_text("package,seconds\n")
    yield from live_swarm(tmp_path / "home", portage_cache, redis_url, SWARM_TIME_SCALE="0.02", SWARM_DURATIONS=str(durations),
                          SWARM_TREE_CHECK_EVERY="1", SWARM_RECLAIM_EVERY="1")


def sync(swarm: Swarm, *extra: str) -> dict[str, object]:
    run = swarm.cli("profile", "sync", "desk", "--json", *extra)
    assert run.code == 0, run.stderr
    summary: dict[str, object] = json.loads(run.stdout)
    swarm.wait(lambda: swarm.state(str(summary["session"])) == "complete", 180, "the session")
    return summary


def built(swarm: Swarm, session: str) -> list[str]:
    """What the session built and published (reused packages have no attempt)."""
    history = swarm.queries.history(session)
    done = Counter(str(a.cpv) for a in history if a.outcome == "success" and a.published_at)
    assert set(done.values()) <= {1}, done.most_common(3)  # each once
    return sorted(done)


def set_zlib_subslot(repo: Path, sub_slot: str) -> None:
    (cache,) = (repo / "metadata" / "md5-cache" / "sys-libs").glob("zlib-*")
    cache.write_text("".join(f"SLOT=0/{sub_slot}\n" if line.startswith("SLOT=") else f"{line}\n"
                             for line in cache.read_text().splitlines()))


def test_a_profile_builds_once_then_only_what_changed_and_follows_the_tree(swarm: Swarm, tmp_path: Path) -> None:
    repo = write_synthetic_repo(tmp_path / "tree")
    config = tmp_path / "portage"
    config.mkdir()
    atoms = [arg for atom in synthetic_world() for arg in ("--atom", atom)]
    made = swarm.cli("profile", "create", "desk", "--repo", str(repo), "--portage-config", str(config), "--auto-rebuild", *atoms)
    assert made.code == 0, made.stderr
    swarm.stack.start("beat", "beat")
    swarm.start_drones(["p1", "p2"])
    swarm.wait(lambda: bool(swarm.cli("snapshot", "list", "--json").json()), 60, "the first snapshot of the tree")

    first = sync(swarm)
    assert first["planned"] == first["to_build"] == len(first["new"]) == 48  # type: ignore[arg-type]
    assert len(built(swarm, str(first["session"]))) == 48

    second = sync(swarm)
    assert (second["to_build"], second["reused"], second["changed"]) == (0, 48, [])
    assert built(swarm, str(second["session"])) == []

    (config / "package.use").write_text("app-misc/tmux debug\n")
    third = sync(swarm)
    assert third["changed"] == [{"cpv": "app-misc/tmux-3.5a", "why": "USE +debug"}]
    assert built(swarm, str(third["session"])) == ["app-misc/tmux-3.5a"]

    binders = sorted(str(p.cpv) for p in swarm.queries.packages(str(first["session"]))
                     if any(dep.startswith("sys-libs/zlib:") for dep in p.slot_deps.split()))
    set_zlib_subslot(repo, "2")  # what `emaint sync` brings when zlib's ABI changes
    swarm.wait(lambda: any(e.kind == "profile.auto_rebuild" for e in swarm.queries.events(None, limit=1000)), 60,
               "beat's tree check")
    (auto,) = [e for e in swarm.queries.events(None, limit=1000) if e.kind == "profile.auto_rebuild"]
    session = str(auto.message).split(" session ")[1].split()[0]
    swarm.wait(lambda: swarm.state(session) == "complete", 180, "the auto-rebuild")
    rebuilt = built(swarm, session)
    assert rebuilt == sorted(["sys-libs/zlib-1.3.1-r1", *binders]) and len(binders) >= 2
    snapshots = swarm.cli("snapshot", "list", "--json").json()
    assert [s["reason"] for s in snapshots][:1] == [f"the tree changed since snapshot {snapshots[1]['id']}"]
