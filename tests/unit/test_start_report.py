"""The drone's start report: sent once a build has run ``start_after`` seconds, always before its completion."""

from __future__ import annotations

import hashlib
import threading
import time
from pathlib import Path

import pytest

from swarm_celery.domain.model import BuildRequest, BuildResult, Outcome
from swarm_celery.drone.builders import BuildOutput
from swarm_celery.drone.runner import DroneRunner
from swarm_celery.errors import BuildFailed

ATTEMPT = "b" * 32
REQUEST = BuildRequest(ATTEMPT, "s", "app-misc/tmux-3.5a", "amd64", "0", "gentoo", ())


class Timed:
    """A builder whose build takes ``seconds`` (and fails when ``fail``)."""

    simulated = True

    def __init__(self, seconds: float, fail: bool = False) -> None:
        self.seconds, self.fail = seconds, fail

    def log_path(self, request: BuildRequest) -> Path | None:
        return None

    def build(self, request: BuildRequest, staging: Path) -> BuildOutput:
        time.sleep(self.seconds)
        if self.fail:
            raise BuildFailed("emerge failed", "!!! ERROR: compile failed", 1)
        path = staging / "tmux-3.5a-1.gpkg.tar"
        path.write_bytes(b"gpkg")
        return BuildOutput(path, hashlib.sha256(b"gpkg").hexdigest(), 4, ">>> Completed installing")


class Recorder:
    """The reports in the order they were sent; a start report may take ``slow`` seconds to send, or fail."""

    def __init__(self, slow: float = 0.0, broken: bool = False) -> None:
        self.sent: list[tuple[str, object]] = []
        self.slow, self.broken = slow, broken
        self.lock = threading.Lock()

    def started(self, attempt_id: str, drone: str, arch: str, started_at: float) -> None:
        time.sleep(self.slow)
        if self.broken:
            raise ConnectionError("the broker is away")
        with self.lock:
            self.sent.append(("started", (attempt_id, drone, arch, started_at)))

    def finished(self, result: BuildResult, urgency: int = 5) -> None:
        with self.lock:
            self.sent.append(("finished", result))


def run(tmp_path: Path, seconds: float, after: float, recorder: Recorder, fail: bool = False) -> BuildResult:
    return DroneRunner("nas", Timed(seconds, fail), tmp_path / "staging", recorder, start_after=after).build(REQUEST)


def kinds(recorder: Recorder) -> list[str]:
    return [kind for kind, _ in recorder.sent]


def test_a_build_shorter_than_the_delay_sends_only_its_completion_which_carries_the_start(tmp_path: Path) -> None:
    recorder = Recorder()
    before = time.time()
    result = run(tmp_path, 0.0, 0.5, recorder)
    assert kinds(recorder) == ["finished"]
    assert result.outcome is Outcome.SUCCESS and before <= result.started_at <= result.finished_at
    time.sleep(0.7)  # the cancelled timer never fires later
    assert kinds(recorder) == ["finished"]


def test_a_longer_build_sends_its_start_then_its_completion(tmp_path: Path) -> None:
    recorder = Recorder()
    result = run(tmp_path, 0.4, 0.1, recorder)
    assert kinds(recorder) == ["started", "finished"]
    assert recorder.sent[0][1] == (ATTEMPT, "nas", "amd64", result.started_at)


def test_a_start_report_being_sent_goes_out_before_the_completion(tmp_path: Path) -> None:
    recorder = Recorder(slow=0.3)  # the timer fires during the build; sending it outlasts the build
    run(tmp_path, 0.1, 0.05, recorder)
    assert kinds(recorder) == ["started", "finished"]


def test_a_failed_build_cancels_its_start_report_too(tmp_path: Path) -> None:
    recorder = Recorder()
    result = run(tmp_path, 0.0, 0.5, recorder, fail=True)
    assert result.outcome is Outcome.FAILED and kinds(recorder) == ["finished"]


def test_a_late_start_report_that_cannot_be_sent_does_not_stop_the_build(tmp_path: Path) -> None:
    recorder = Recorder(broken=True)
    result = run(tmp_path, 0.3, 0.05, recorder)
    assert result.outcome is Outcome.SUCCESS and kinds(recorder) == ["finished"]


def test_zero_sends_the_start_at_once_and_an_unreachable_broker_fails_before_building(tmp_path: Path) -> None:
    recorder = Recorder()
    run(tmp_path, 0.0, 0.0, recorder)
    assert kinds(recorder) == ["started", "finished"]
    with pytest.raises(ConnectionError):
        run(tmp_path, 0.0, 0.0, Recorder(broken=True))
