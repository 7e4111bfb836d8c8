"""`build-swarm prefix init` lays out a drone's portage prefix; `build-swarm drone --check` shows it, with real portage;
a prefix that cannot build (missing, a broken or foreign profile, no gcc, a make.conf that sets what the plan decides)
is refused at start in one line that names what is wrong."""

from __future__ import annotations

import json
import os
import sys
from pathlib import Path

import pytest

from swarm_celery.local.overlay import OVERLAY, PROFILE
from tests.conftest import reachable_redis
from tests.integration.demo_kit import run_cli

VENV_BIN = Path(sys.executable).parent


def env(tmp_path: Path, **extra: str) -> dict[str, str]:
    base = {k: v for k, v in os.environ.items() if not k.startswith("SWARM_")}
    return base | {"SWARM_HOME": str(tmp_path / "home"), "SWARM_BUILDER": "emerge", "SWARM_EMERGE": str(VENV_BIN / "emerge"),
                   "SWARM_BINHOST_URL": "http://coordinator:8080/binhost/amd64", "PATH": f"{VENV_BIN}:/usr/bin:/bin"} | extra


@pytest.fixture(scope="module")
def prefix(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """One prefix of the shipped overlay, laid out by the command a drone's admin runs."""
    root = tmp_path_factory.mktemp("p") / "prefix"
    run = run_cli(["prefix", "init", str(root), "--repo", str(OVERLAY), "--profile", PROFILE, "--binhost", "", "--make-conf", 'GENTOO_MIRRORS=""',
                   "--json"], env(root.parent))
    assert run.code == 0, run.stdout + run.stderr
    done = json.loads(run.stdout)
    assert done["prefix"] == str(root) and not done["trusts_binhost"]
    assert any(line.startswith("make.profile -> ") for line in done["done"])
    return root


def check(tmp_path: Path, prefix: Path, **extra: str) -> tuple[int, str]:
    broker = {"SWARM_BROKER_URL": reachable_redis()}  # the network checks pass, so what is checked here is the prefix
    run = run_cli(["drone", "--name", "box1", "--check", "--json"], env(tmp_path, SWARM_EMERGE_PREFIX=str(prefix), **broker | extra), timeout=120)
    return run.code, run.stdout if run.code == 0 else run.stderr


def test_check_shows_the_prefix_portage_and_the_configuration(tmp_path: Path, prefix: Path) -> None:
    code, out = check(tmp_path, prefix)
    assert code == 0, out
    shown = json.loads(out)
    found = shown["prefix"]
    assert found["prefix"] == str(prefix) and found["profile"] == PROFILE and (found["arch"], found["chost"]) == ("amd64", "x86_64-pc-linux-gnu")
    assert found["portage"].startswith("Portage 3.0.83 (") and f"{PROFILE}, gcc-" in found["portage"]
    assert found["compiler"].startswith("gcc ") and found["make"].startswith("GNU Make ")
    assert found["repos"] == {"swarm-test": str(OVERLAY)} and "USE" not in found["make_conf"]
    assert shown["pkgdir"] == f"{prefix}/var/cache/binpkgs" and found["portage_tmpdir"] == f"{prefix}/var/tmp"
    assert found["configurations"] == f"{tmp_path}/home/build-configs/"  # no coordinator URL: a shared SWARM_HOME
    assert shown["identity"]["gentoo_profile"] == PROFILE  # what the drone announces is the prefix's


def broken_copy(tmp_path: Path, prefix: Path) -> Path:
    """A prefix of its own to break (make.conf and make.profile as `prefix init` wrote them, paths left as they were)."""
    copy = tmp_path / "broken"
    (copy / "etc" / "portage" / "repos.conf").mkdir(parents=True)
    for rel in ("etc/portage/make.conf", "etc/portage/repos.conf/build-swarm.conf"):
        (copy / rel).write_text((prefix / rel).read_text())
    (copy / "etc" / "portage" / "make.profile").symlink_to(os.readlink(prefix / "etc" / "portage" / "make.profile"))
    (copy / "share").symlink_to(prefix / "share")
    return copy


def test_a_prefix_that_cannot_build_is_refused_at_start_in_one_line(tmp_path: Path, prefix: Path) -> None:
    code, err = check(tmp_path, tmp_path / "nowhere")
    assert code == 2 and err.strip().count("\n") == 0
    assert f"SWARM_EMERGE_PREFIX={tmp_path / 'nowhere'}: no {tmp_path / 'nowhere'}/etc/portage (lay the prefix out with" in err

    copy = broken_copy(tmp_path, prefix)
    (copy / "etc" / "portage" / "make.profile").unlink()
    (copy / "etc" / "portage" / "make.profile").symlink_to(OVERLAY / "profiles" / "swarm-test" / "arm64")
    code, err = check(tmp_path, copy)
    assert code == 2 and "make.profile points at" in err and "swarm-test/arm64, which does not exist" in err

    code, err = check(tmp_path, prefix, SWARM_ARCH="arm64")  # a profile of another arch than the drone's
    assert code == 2 and f"its profile {PROFILE} is for ARCH amd64, this drone builds arm64 (SWARM_ARCH)" in err, err

    code, err = check(tmp_path, prefix, PATH=str(VENV_BIN))  # no gcc, no make on the build PATH
    assert code == 2 and "no gcc on the build PATH: install gcc" in err, err

    copy = broken_copy(tmp_path / "again", prefix)
    with (copy / "etc" / "portage" / "make.conf").open("a") as conf:
        conf.write('USE="-extra"\nCFLAGS="-O3"\n')
    code, err = check(tmp_path, copy)
    assert code == 2 and "its make.conf sets USE, CFLAGS, which each plan decides" in err, err
