"""The emerge builder against a fake ``emerge`` that honours the real command line and writes real emerge output.

Real processes, real process groups, real signals, real GPKGs; only emerge itself is a stand-in.
"""

from __future__ import annotations

import os
import signal
import subprocess
import threading
import time
from pathlib import Path

import pytest

from swarm_celery.binhost.gpkg_read import read_gpkg_metadata
from swarm_celery.domain.emerge_cmd import EmergeConfig
from swarm_celery.domain.failures import FailureKind, classify_failure
from swarm_celery.domain.model import BuildRequest, Outcome
from swarm_celery.drone.emerge import EmergeBuilder, find_binpkg
from swarm_celery.drone.process import Revoked, group_alive, reap_orphans, sigterm_raises
from swarm_celery.drone.runner import DroneRunner
from swarm_celery.errors import BuildFailed
from tests.fakes import fixture_repo, install_fake_emerge

REQUEST = BuildRequest("att-1", "sess-1", "app-misc/hello-2.1-r1", "amd64", "2/2.1", "swarm", ("nls",))


@pytest.fixture
def drone(tmp_path: Path) -> dict[str, Path]:
    paths = {"bin": tmp_path / "bin", "pkgdir": tmp_path / "binpkgs", "logs": tmp_path / "logs", "tmp": tmp_path / "tmp",
             "staging": tmp_path / "staging", "repo": fixture_repo(tmp_path / "repo", "swarm", {"app-misc/hello-2.1-r1": "2/2.1"})}
    for key in ("pkgdir", "tmp"):
        paths[key].mkdir()
    install_fake_emerge(paths["bin"])
    return paths


def builder(drone: dict[str, Path], scenario: str = "success", *, timeout: float = 60.0, min_free_mb: int = 1,
            seconds: float = 0.2) -> EmergeBuilder:
    environ = {**os.environ, "FAKE_EMERGE_SCENARIOS": f"*={scenario}", "FAKE_EMERGE_REPOS": str(drone["repo"]),
               "FAKE_EMERGE_SECONDS": str(seconds), "FAKE_EMERGE_USE": "nls"}
    config = EmergeConfig("http://127.0.0.1:9/binhost/amd64", str(drone["pkgdir"]), cores=8, slots=2)
    return EmergeBuilder(config, drone["logs"], timeout=timeout, min_free_mb=min_free_mb, tmpdir=drone["tmp"],
                         emerge=str(drone["bin"] / "emerge"), environ=environ, kill_grace=0.5)


def failure(drone: dict[str, Path], scenario: str, **kwargs: float) -> tuple[BuildFailed, FailureKind]:
    with pytest.raises(BuildFailed) as caught:
        builder(drone, scenario, **kwargs).build(REQUEST, drone["staging"])
    return caught.value, classify_failure(caught.value.log_tail, caught.value.build_status).kind


def test_a_build_leaves_a_verified_gpkg_in_staging_and_the_whole_log(drone: dict[str, Path]) -> None:
    out = builder(drone).build(REQUEST, drone["staging"])
    assert out.artifact.parent == drone["staging"] and out.artifact.name == "hello-2.1-r1-1.gpkg.tar"
    meta = read_gpkg_metadata(out.artifact)  # structure and Manifest checked on the way
    assert (meta["CATEGORY"], meta["PF"], meta["SLOT"], meta["repository"]) == ("app-misc", "hello-2.1-r1", "2/2.1", "swarm")
    assert (drone["pkgdir"] / "app-misc" / "hello" / "hello-2.1-r1-1.gpkg.tar").is_file()  # portage's PKGDIR is left as it was
    log = (drone["logs"] / "att-1.log").read_text()
    assert "build-swarm: running " in log and "--usepkg-exclude=app-misc/hello " in log and "=app-misc/hello-2.1-r1::swarm\n" in log
    assert ">>> Emerging (1 of 1) app-misc/hello-2.1-r1::swarm" in log and "make -j4 -l8" in log
    assert log.rstrip().splitlines()[-1].startswith("build-swarm: ") and "exited with status 0" in log
    assert ">>> Completed installing app-misc/hello-2.1-r1" in out.log_tail


def test_rebuilds_get_new_build_ids_and_the_newest_is_taken(drone: dict[str, Path]) -> None:
    first = builder(drone).build(REQUEST, drone["staging"] / "a")
    second = builder(drone).build(REQUEST, drone["staging"] / "b")
    assert (first.artifact.name, second.artifact.name) == ("hello-2.1-r1-1.gpkg.tar", "hello-2.1-r1-2.gpkg.tar")
    assert find_binpkg(drone["pkgdir"], REQUEST.cpv, since=0) == drone["pkgdir"] / "app-misc/hello/hello-2.1-r1-2.gpkg.tar"
    assert find_binpkg(drone["pkgdir"], REQUEST.cpv, since=time.time() + 60) is None  # older than the build: not ours
    assert find_binpkg(drone["pkgdir"], "app-misc/hello-2.1", since=0) is None  # -r1 files are not hello-2.1's


@pytest.mark.parametrize(("scenario", "kind", "phase"), [
    ("compile", FailureKind.COMPILE, "compile"),
    ("configure", FailureKind.CONFIGURE, "configure"),
    ("fetch", FailureKind.FETCH, None),
    ("disk_full", FailureKind.DISK_FULL, "compile"),
    ("oom", FailureKind.OOM, "compile"),
    ("masked", FailureKind.DEPENDENCY, None),
    ("binhost", FailureKind.BINHOST, None),
    ("missing_dep", FailureKind.BINHOST, None),
])
def test_failures_are_classified_from_what_emerge_printed(drone: dict[str, Path], scenario: str, kind: FailureKind,
                                                          phase: str | None) -> None:
    exc, found = failure(drone, scenario)
    assert exc.build_status == 1 and found is kind
    assert classify_failure(exc.log_tail, exc.build_status).phase == phase
    assert not list(drone["staging"].glob("**/*.gpkg.tar"))


def test_emerge_exiting_zero_without_a_package_is_an_artifact_failure(drone: dict[str, Path]) -> None:
    exc, kind = failure(drone, "no_binpkg")
    assert kind is FailureKind.ARTIFACT and kind.infrastructure
    assert "wrote no app-misc/hello-2.1-r1 GPKG" in exc.log_tail


def test_a_crash_reports_the_signal_exit_status(drone: dict[str, Path]) -> None:
    exc, kind = failure(drone, "segv")
    assert exc.build_status == -signal.SIGSEGV and kind is FailureKind.UNKNOWN


def test_too_little_free_disk_refuses_before_emerge_runs(drone: dict[str, Path]) -> None:
    exc, kind = failure(drone, "success", min_free_mb=10**9)
    assert kind is FailureKind.DISK_FULL
    assert "not enough free disk" in exc.log_tail and "SWARM_MIN_FREE_MB" in exc.log_tail
    assert not (drone["logs"] / "att-1.log").exists()


def test_a_malformed_request_never_reaches_a_process(drone: dict[str, Path]) -> None:
    bad = BuildRequest("att-2", "sess-1", "app-misc/hello-2.1;touch /tmp/x", "amd64", "0", "swarm", ())
    with pytest.raises(BuildFailed, match="refusing to build"):
        builder(drone).build(bad, drone["staging"])
    assert not drone["logs"].exists()


def test_a_build_past_its_timeout_is_stopped_with_its_whole_process_group(drone: dict[str, Path]) -> None:
    started = time.monotonic()
    _, kind = failure(drone, "hang", timeout=1.5)  # the fake ignores SIGTERM: SIGKILL after the grace period
    assert kind is FailureKind.TIMEOUT and time.monotonic() - started < 15
    pgid = _pgid_from(drone["logs"] / "att-1.log")
    assert not group_alive(pgid)  # emerge and its "compiler" children are gone


def test_a_revoked_build_stops_its_process_group_and_reports_cancelled(drone: dict[str, Path]) -> None:
    reports: list[object] = []

    class Recorder:
        def started(self, *args: object) -> None: ...
        def finished(self, result: object, urgency: int = 5) -> None:
            reports.append(result)

    runner = DroneRunner("drone-a", builder(drone, "hang"), drone["staging"], Recorder())
    log = drone["logs"] / "att-1.log"
    threading.Thread(target=_sigterm_when_compiling, args=(log,), daemon=True).start()
    result = runner.build(REQUEST)
    assert result.outcome is Outcome.CANCELLED and reports == [result]
    assert not group_alive(_pgid_from(log))
    assert "build-swarm: build revoked (signal 15)" in log.read_text()


def test_sigterm_raises_only_while_inside() -> None:
    previous = signal.getsignal(signal.SIGTERM)
    with pytest.raises(Revoked), sigterm_raises():
        os.kill(os.getpid(), signal.SIGTERM)
        time.sleep(5)
    assert signal.getsignal(signal.SIGTERM) == previous


def _sigterm_when_compiling(log: Path) -> None:
    end = time.monotonic() + 30
    while time.monotonic() < end:
        if log.exists() and "x86_64-pc-linux-gnu-gcc" in log.read_text():
            os.kill(os.getpid(), signal.SIGTERM)  # what the Celery worker does to the pool process on revoke(terminate=True)
            return
        time.sleep(0.05)


def _pgid_from(log: Path) -> int:
    for line in log.read_text().splitlines():
        if "process group" in line:
            return int(line.split("process group ")[1].split()[0])
    raise AssertionError(f"no process group in {log}")


def test_reaping_stops_only_groups_that_are_still_ours(tmp_path: Path) -> None:
    run = tmp_path / "run"
    run.mkdir()
    orphan = subprocess.Popen(["sleep", "60"], start_new_session=True)
    start = Path(f"/proc/{orphan.pid}/stat").read_text().rsplit(")", 1)[1].split()[19]
    (run / "a.pgid").write_text(f"{orphan.pid} {start}\n")  # ours: the leader still has the recorded start time
    (run / "b.pgid").write_text(f"{os.getpid()} 1\n")  # that pid is someone else now (another start time): left alone
    (run / "c.pgid").write_text("999999999 1\n")  # long gone
    (run / "d.pgid").write_text("garbage")
    assert reap_orphans(run) == [orphan.pid]
    assert orphan.wait(timeout=10) == -signal.SIGKILL
    assert list(run.iterdir()) == []


def test_a_finished_build_leaves_no_record(drone: dict[str, Path]) -> None:
    built = builder(drone)
    built.run_dir = drone["tmp"] / "run"
    built.build(REQUEST, drone["staging"])
    assert not list((drone["tmp"] / "run").glob("*.pgid"))


FIXTURES = Path(__file__).resolve().parents[1] / "realbuild" / "fixtures"  # real emerge's tails (tests/realbuild)
SHAPES = (  # the lines that give a tail its shape, each by what it is
    ("resolve", r"^Calculating dependencies \.\.\. done!$"), ("verify", r"^>>> Verifying ebuild manifests$"),
    ("emerging", r"^>>> Emerging \(1 of 1\) "), ("unpacking", r"^>>> Unpacking '[^']+' to "),
    ("in-function", r": In function \u2018\w+\u2019:$"), ("gcc-error", r":\d+:\d+: error: .*\u2018"), ("caret", r"^ +\| +\^$"),
    ("make-error", r"^make: \*\*\* \["), ("die", r"^ \* ERROR: \S+ failed \(\w+ phase\):$"),
    ("failed-to-emerge", r"^>>> Failed to emerge \S+$"), ("failed-to-emerge-log", r"^>>> Failed to emerge \S+, Log file:$"),
    ("messages", r"^ \* Messages for package "), ("couldnt-download", r"^!!! Couldn't download '"),
    ("pre-merge", r"^>>> Running pre-merge checks for "), ("background", r"^ \* Fetching in the background: \S+\.partial$"),
    ("fetch-of", r"^ \* Fetch of \S+ failed, see \S+/emerge-fetch\.log$"), ("no-ebuilds", r'^emerge: there are no ebuilds to satisfy "'),
    ("required-by", r"^\(dependency required by "), ("binhost-lines", r"^(Fetching binary packages info|Loaded binary package info)"),
)


def shape(tail: str) -> list[str]:
    import re

    return [name for line in tail.splitlines() for name, pattern in SHAPES if re.search(pattern, line)]


@pytest.mark.parametrize(("scenario", "fixture"), [
    ("compile", "compile-error"), ("fetch", "missing-distfile"), ("binhost", "binpkg-missing"), ("missing_dep", "unsatisfiable-dependency"),
])
def test_the_fake_prints_what_real_emerge_prints(drone: dict[str, Path], scenario: str, fixture: str) -> None:
    exc, _ = failure(drone, scenario)
    real = (FIXTURES / f"{fixture}.log").read_text()
    assert shape(exc.log_tail) == shape(real)
    fake_kind, real_kind = classify_failure(exc.log_tail, 1), classify_failure(real, 1)
    assert (fake_kind.kind, fake_kind.phase) == (real_kind.kind, real_kind.phase)
