"""The whole swarm, for real: Redis, coordinator worker, beat, the API with HTTP uploads, signing on, two prefix drones.

A build profile of the shipped overlay's world (``swarm-test/greetings``: six packages) is planned by real portage and
built by real ``emerge`` on two drones, each in its own EPREFIX with the plan's own configuration; every dependency a
drone needs comes from the swarm binhost as a signed binary package (its emerge log says "Emerging binary"), often one
the other drone built. A fresh client prefix installs the world with signature verification on, trusting the key as
``build-swarm binhost client-config`` says, and runs the programs. Then libgreet's sub-slot is bumped in the tree and
the profile synced: exactly libgreet and its ``:=`` consumers (hello, goodbye) are rebuilt, for real, and the client
updates to them (its programs now use libgreet.so.2).
"""

from __future__ import annotations

import os
import re
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from swarm_celery.binhost.gpkg_read import read_gpkg_metadata
from swarm_celery.domain.views import AttemptView
from tests.conftest import REDIS_URL, unavailable
from tests.realbuild import kit
from tests.realbuild.live_kit import Live, live_swarm, profile_json

pytestmark = [pytest.mark.slow, pytest.mark.skipif(os.geteuid() != 0, reason="the prefixes build as root (PORTAGE_USERNAME=root)")]

WORLD = ("swarm-test/greetings",)
FIRST = {"swarm-test/libgreet-1", "swarm-test/greetgen-1", "swarm-test/hello-1", "swarm-test/goodbye-1", "swarm-test/phrasebook-1",
         "swarm-test/greetings-1"}
INSTALLED = FIRST - {"swarm-test/greetgen-1"}  # greetgen is only needed to build phrasebook: a client does not install it
REBUILT = {"swarm-test/libgreet-1-r1", "swarm-test/hello-1", "swarm-test/goodbye-1"}
BUILD_DEPS = {"swarm-test/hello-1": {"swarm-test/libgreet-1"}, "swarm-test/goodbye-1": {"swarm-test/libgreet-1"},
              "swarm-test/phrasebook-1": {"swarm-test/greetgen-1"},
              "swarm-test/greetings-1": {"swarm-test/libgreet-1", "swarm-test/hello-1", "swarm-test/goodbye-1", "swarm-test/phrasebook-1"}}


@pytest.fixture(scope="module")
def live() -> Iterator[Live]:
    import redis

    try:
        redis.Redis.from_url(REDIS_URL, socket_connect_timeout=2).ping()
    except (redis.RedisError, OSError) as exc:
        unavailable(f"Redis at {REDIS_URL}: {exc}")
    started = time.monotonic()
    with live_swarm(REDIS_URL) as swarm:
        for name in ("drone-a", "drone-b"):
            swarm.add_drone(name)
        swarm.wait(lambda: swarm.online() >= {"drone-a", "drone-b"}, 90, "both drones announced")
        yield swarm
    print(f"\nlive swarm: {time.monotonic() - started:.0f} s in all")


def session_of(live: Live, *args: str) -> str:
    done = profile_json(live, "sync", "greet", *args)
    session = str(done["session"])
    live.wait(lambda: live.session_state(session) in ("complete", "failed", "cancelled"), 420, f"session {session}")
    assert live.session_state(session) == "complete", live.queries.session(session)
    return session


def successes(live: Live, session: str) -> dict[str, AttemptView]:
    history = live.queries.history(session)
    failed = [(a.cpv, a.drone, a.error) for a in history if a.outcome != "success"]
    assert not failed, failed
    return {a.cpv: a for a in history}


def merged(log: str) -> tuple[list[str], list[str]]:
    """(compiled, taken as binary packages) of one emerge log: ">>> Emerging (1 of 2) CPV::repo" / ">>> Emerging binary ..."."""
    compiled = re.findall(r"^>>> Emerging \(\d+ of \d+\) (\S+)::", log, re.MULTILINE)
    binary = re.findall(r"^>>> Emerging binary \(\d+ of \d+\) (\S+)::", log, re.MULTILINE)
    return compiled, binary


def test_the_world_is_built_for_real_across_two_drones_and_a_client_installs_it_signed(live: Live) -> None:
    (live.base / "portage-config").mkdir()
    (live.base / "portage-config" / "make.conf").write_text(kit.shipped.ACCEPT_LICENSE)
    profile_json(live, "create", "greet", "--repo", str(live.overlay), "--gentoo-profile", kit.PROFILE,
                 *(f"--atom={atom}" for atom in WORLD), "--portage-config", str(live.base / "portage-config"))
    session = session_of(live)
    info = live.queries.session(session)
    assert info is not None and info.simulated is False  # the coordinator's SWARM_BUILDER=emerge said so
    built = successes(live, session)
    assert set(built) == FIRST

    crossed = []
    for cpv, attempt in built.items():
        assert attempt.drone in live.drones
        compiled, binary = merged(live.drone_log(str(attempt.drone), attempt.attempt))
        assert compiled == [cpv], (cpv, compiled)  # the drone compiled its target and nothing else
        here = {dep for dep in BUILD_DEPS.get(cpv, set()) if built[dep].drone == attempt.drone}  # it built them: installed
        assert set(binary) >= BUILD_DEPS.get(cpv, set()) - here, (cpv, binary)  # every other one came from the swarm binhost
        crossed += [(dep, built[dep].drone, cpv, attempt.drone) for dep in binary if dep in built and built[dep].drone != attempt.drone]
    assert crossed, "no dependency built on one drone was merged as a binary package on the other"
    print("\nbuilt on one drone, merged as a binary package on the other:", crossed)
    assert {a.drone for a in built.values()} == {"drone-a", "drone-b"}

    client = kit.make_client(live.base / "client", live.overlay, live.binhost, live.key)  # client-config's binrepos.conf and key steps
    assert "verify-signature = true" in (client.config / "binrepos.conf" / "build-swarm.conf").read_text()
    installed = client.emerge("--usepkgonly", "--getbinpkg", *WORLD, timeout=300)
    assert installed.returncode == 0, installed.stdout[-4000:]
    assert installed.stdout.count(">>> Emerging binary (") == len(INSTALLED) and "Emerging (" not in installed.stdout
    assert set(client.installed()) == INSTALLED
    out = kit_run(client.path("usr/bin/greetings"))
    assert out.splitlines() == ["hello: Hello, hello! (from libgreet.so.1)",
                                "goodbye: Hello, goodbye! (from libgreet.so.1) See you later.",
                                "phrasebook: en: Good morning", "phrasebook: fr: Bonjour", "phrasebook: de: Guten Morgen"], out


def test_a_subslot_bump_rebuilds_exactly_the_library_and_its_consumers_and_the_client_updates(live: Live) -> None:
    _, cpv = kit.bump_subslot_in_place(live.overlay)
    session = session_of(live)
    rebuilt = successes(live, session)
    assert set(rebuilt) == REBUILT  # phrasebook, greetgen, greetings: unchanged identity, not built again
    packages = {p.cpv: p for p in live.queries.packages(session)}
    assert {c for c, p in packages.items() if p.state == "published" and c not in rebuilt} == {
        "swarm-test/greetgen-1", "swarm-test/phrasebook-1", "swarm-test/greetings-1"}
    for name, attempt in rebuilt.items():
        compiled, binary = merged(live.drone_log(str(attempt.drone), attempt.attempt))
        assert compiled == [name]
        if name != cpv and rebuilt[cpv].drone != attempt.drone:
            assert cpv in binary  # hello and goodbye link the new libgreet: from the binhost, or built right there
    for name in REBUILT - {cpv}:  # and the published package says so (publication checks its := binding against the plan)
        assert "swarm-test/libgreet:0/2=" in read_gpkg_metadata(published_file(live, rebuilt[name]))["RDEPEND"]
    client = kit.Prefix(kit.padded(live.base / "client"), live.overlay)
    update = client.emerge("--usepkgonly", "--getbinpkg", "--update", "--deep", "@world", timeout=300)
    assert update.returncode == 0, update.stdout[-4000:]
    assert {m for m in re.findall(r">>> Emerging binary \(\d+ of \d+\) (\S+)::", update.stdout)} == REBUILT
    assert kit_run(client.path("usr/bin/hello")) == "hello: Hello, hello! (from libgreet.so.2)\n"
    assert kit_run(client.path("usr/bin/greetings")).splitlines()[1] == "goodbye: Hello, goodbye! (from libgreet.so.2) See you later."


def published_file(live: Live, attempt: AttemptView) -> Path:
    return live.settings.binhost_dir / "amd64" / str(attempt.artifact)


def kit_run(program: Path) -> str:
    import subprocess

    done = subprocess.run([str(program)], capture_output=True, text=True, timeout=30, check=False)
    assert done.returncode == 0, f"{program}: {done.returncode}\n{done.stdout}{done.stderr}"
    return done.stdout
