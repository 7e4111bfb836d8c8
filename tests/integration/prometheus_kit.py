"""A real Prometheus (Debian's) scraping a coordinator's /metrics every second, and queries against it."""

from __future__ import annotations

import json
import shutil
import subprocess
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import httpx

from tests.conftest import unavailable
from tests.integration.api_kit import free_port

DASHBOARD = Path(__file__).resolve().parents[2] / "deploy" / "grafana" / "build-swarm.json"


@contextmanager
def prometheus(home: Path, api_url: str, token: str) -> Iterator[str]:
    binary = shutil.which("prometheus")
    if binary is None:
        unavailable("prometheus is not installed (apt-get install prometheus; scripts/services.sh installs it)")
    assert binary is not None
    home.mkdir(parents=True, exist_ok=True)
    config = home / "prometheus.yml"
    config.write_text(json.dumps({"global": {"scrape_interval": "1s", "evaluation_interval": "1s"}, "scrape_configs": [{
        "job_name": "build-swarm", "metrics_path": "/metrics", "authorization": {"type": "Bearer", "credentials": token},
        "static_configs": [{"targets": [api_url.removeprefix("http://")]}]}]}))
    port = free_port()
    url = f"http://127.0.0.1:{port}"
    with (home / "prometheus.log").open("ab") as log:
        server = subprocess.Popen([binary, f"--config.file={config}", f"--storage.tsdb.path={home / 'data'}",
                                   f"--web.listen-address=127.0.0.1:{port}", "--log.level=warn"], stdout=log, stderr=subprocess.STDOUT)
    try:
        deadline = time.monotonic() + 60
        while not _ready(url):
            assert server.poll() is None and time.monotonic() < deadline, f"Prometheus did not start: {(home / 'prometheus.log').read_text()[-2000:]}"
            time.sleep(0.2)
        yield url
    finally:
        server.terminate()
        server.wait(timeout=30)


def _ready(url: str) -> bool:
    try:
        return httpx.get(f"{url}/-/ready", timeout=1).status_code == 200
    except httpx.HTTPError:
        return False


def query(url: str, expr: str) -> list[dict[str, Any]]:
    answer = httpx.get(f"{url}/api/v1/query", params={"query": expr}, timeout=30).json()
    assert answer["status"] == "success", (expr, answer)
    result: list[dict[str, Any]] = answer["data"]["result"]
    return result


def dashboard_queries(rate_interval: str = "2m") -> list[tuple[str, str]]:
    """(panel title, PromQL) of every target of the Grafana dashboard, as Grafana sends it."""
    panels = json.loads(DASHBOARD.read_text())["panels"]
    return [(p["title"], t["expr"].replace("$__rate_interval", rate_interval)) for p in panels for t in p["targets"]]
