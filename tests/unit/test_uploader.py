"""The drone's uploader: what it sends, what it retries, what it gives up on (HTTP mocked at the transport)."""

from __future__ import annotations

import hashlib
from pathlib import Path

import httpx
import pytest

from swarm_celery.domain.failures import FailureKind, classify_failure
from swarm_celery.domain.model import BuildRequest, Outcome
from swarm_celery.drone.builders import BuildOutput
from swarm_celery.drone.runner import DroneRunner
from swarm_celery.drone.upload import HttpUploader
from swarm_celery.errors import UploadFailed

ATTEMPT = "a" * 32


def artifact(tmp_path: Path) -> Path:
    path = tmp_path / "tmux-3.5a-1.gpkg.tar"
    path.write_bytes(b"gpkg bytes")
    return path


def uploader(handler: httpx.MockTransport, tries: int = 3) -> HttpUploader:
    return HttpUploader("http://coordinator:8080/", "bsd_token", tries=tries, backoff=0.0, transport=handler)


def test_the_request_carries_token_hash_length_and_the_reference_comes_back(tmp_path: Path) -> None:
    seen: list[httpx.Request] = []

    def handle(request: httpx.Request) -> httpx.Response:
        seen.append(request)
        return httpx.Response(201, json={})

    ref = uploader(httpx.MockTransport(handle)).artifact(ATTEMPT, artifact(tmp_path), hashlib.sha256(b"gpkg bytes").hexdigest())
    assert ref == f"upload://{ATTEMPT}/tmux-3.5a-1.gpkg.tar"
    request = seen[0]
    assert (request.method, str(request.url)) == ("PUT", f"http://coordinator:8080/api/v1/artifacts/{ATTEMPT}/tmux-3.5a-1.gpkg.tar")
    assert request.headers["authorization"] == "Bearer bsd_token" and request.headers["content-length"] == "10"
    assert request.headers["x-swarm-sha256"] == hashlib.sha256(b"gpkg bytes").hexdigest() and request.read() == b"gpkg bytes"


def test_server_errors_and_dropped_connections_are_retried(tmp_path: Path) -> None:
    answers = iter([httpx.ConnectError("refused"), httpx.Response(503, json={"error": "busy"}), httpx.Response(201, json={})])

    def handle(request: httpx.Request) -> httpx.Response:
        answer = next(answers)
        if isinstance(answer, Exception):
            raise answer
        return answer

    uploader(httpx.MockTransport(handle)).artifact(ATTEMPT, artifact(tmp_path), "0" * 64)
    assert next(answers, None) is None  # all three were used


@pytest.mark.parametrize("status", [400, 401, 403, 409, 413])
def test_a_refusal_is_final_and_says_why(tmp_path: Path, status: int) -> None:
    calls = []

    def handle(request: httpx.Request) -> httpx.Response:
        calls.append(request)
        return httpx.Response(status, json={"error": "sha256 mismatch: the upload hashes to 12ab"})

    with pytest.raises(UploadFailed, match=f"refused by http://coordinator:8080: HTTP {status}: sha256 mismatch"):
        uploader(httpx.MockTransport(handle)).artifact(ATTEMPT, artifact(tmp_path), "0" * 64)
    assert len(calls) == 1


def test_giving_up_after_the_last_try(tmp_path: Path) -> None:
    def handle(request: httpx.Request) -> httpx.Response:
        raise httpx.ConnectError("connection refused")

    with pytest.raises(UploadFailed, match="after 3 tries: ConnectError: connection refused"):
        uploader(httpx.MockTransport(handle)).artifact(ATTEMPT, artifact(tmp_path), "0" * 64)


def test_a_failed_upload_fails_the_attempt_as_an_infrastructure_failure(tmp_path: Path) -> None:
    class Built:
        simulated = False

        def log_path(self, request: BuildRequest) -> Path | None:
            return None

        def build(self, request: BuildRequest, staging: Path) -> BuildOutput:
            path = artifact(staging)
            return BuildOutput(path, hashlib.sha256(path.read_bytes()).hexdigest(), 10, ">>> Completed installing")

    class Recorder:
        def started(self, *args: object) -> None: ...
        def finished(self, result: object, urgency: int = 5) -> None: ...

    def refuse(request: httpx.Request) -> httpx.Response:
        return httpx.Response(401, json={"error": "this needs a drone token"})

    runner = DroneRunner("nas", Built(), tmp_path / "staging", Recorder(), uploader(httpx.MockTransport(refuse)))
    result = runner.build(BuildRequest(ATTEMPT, "s", "app-misc/tmux-3.5a", "amd64", "0", "gentoo", ()))
    assert result.outcome is Outcome.FAILED and result.artifact_path == ""
    why = classify_failure(result.log_tail, result.exit_code)
    assert why.kind is FailureKind.ARTIFACT and why.infrastructure and "HTTP 401" in why.line
    assert not (tmp_path / "staging" / ATTEMPT).exists()  # the local copy is not kept
