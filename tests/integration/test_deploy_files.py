"""deploy/: nginx serving a binhost and proxying to a stand-in API for real, logrotate's rotation of a log still being
written, and the two environment examples read by what reads them (the companion of test_deploy_units.py).
"""

from __future__ import annotations

import re
import socket
import subprocess
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import httpx
import pytest

from swarm_celery.settings import Settings, read_conf
from tests.integration.deploy_kit import DEPLOY, free_port, need, wait_for


class Api(BaseHTTPRequestHandler):
    """Stands in for the coordinator API: answers every request with 200 and records what reached it."""

    seen: list[tuple[str, str, int]]

    def answer(self) -> None:
        size = int(self.headers.get("Content-Length", 0))
        body = self.rfile.read(size) if size else b""
        self.seen.append((self.command, self.path, len(body)))
        self.send_response(200)
        self.send_header("Content-Length", "2")
        self.end_headers()
        self.wfile.write(b"{}")

    do_GET = do_PUT = do_POST = answer

    def log_message(self, *args: object) -> None:
        pass


@contextmanager
def stand_in_api() -> Iterator[tuple[int, list[tuple[str, str, int]]]]:
    seen: list[tuple[str, str, int]] = []
    server = ThreadingHTTPServer(("127.0.0.1", 0), type("Recorder", (Api,), {"seen": seen}))
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield server.server_address[1], seen
    finally:
        server.shutdown()
        server.server_close()


def nginx_config(root: Path, port: int, api_port: int) -> Path:
    """deploy/nginx/build-swarm.conf inside a minimal nginx.conf, on a free port, its SWARM_HOME and logs under ``root``."""
    text = (DEPLOY / "nginx" / "build-swarm.conf").read_text()
    swaps = {"listen 80;": f"listen 127.0.0.1:{port};", "listen [::]:80;": "", "root /var/lib/build-swarm;": f"root {root / 'home'};",
             "server 127.0.0.1:8080;": f"server 127.0.0.1:{api_port};", "/var/log/nginx/": f"{root}/"}
    for old, new in swaps.items():
        assert old in text, f"{old!r} is no longer in build-swarm.conf: update the test"
        text = text.replace(old, new)
    (root / "build-swarm.conf").write_text(text)
    temps = "".join(f"{kind}_temp_path {root / kind};\n" for kind in ("client_body", "proxy", "fastcgi", "uwsgi", "scgi"))
    main = root / "nginx.conf"
    main.write_text(f"user root;\npid {root / 'nginx.pid'};\nerror_log {root / 'error.log'};\nevents {{}}\n"
                    f"http {{\ninclude /etc/nginx/mime.types;\n{temps}include {root / 'build-swarm.conf'};\n}}\n")
    return main


def binhost(home: Path) -> None:
    pkg = home / "binhost" / "amd64" / "app-misc" / "tmux"
    pkg.mkdir(parents=True)
    (pkg / "tmux-3.5-1.gpkg.tar").write_bytes(b"gpkg" * 100)
    (home / "binhost" / "amd64" / "Packages").write_text("PACKAGES: 1\n")
    (home / "binhost" / "amd64" / ".Packages.lock").write_text("")
    (home / "swarm.db").write_text("the record")


def raw_status(port: int, path: str) -> int:
    """The status of a GET sent byte for byte (an HTTP client would normalise the path first)."""
    with socket.create_connection(("127.0.0.1", port), timeout=5) as s:
        s.sendall(f"GET {path} HTTP/1.0\r\nHost: x\r\n\r\n".encode())
        return int(s.recv(64).split()[1])


def _listens(port: int) -> bool:
    try:
        return raw_status(port, "/") == 404
    except OSError:
        return False


@pytest.fixture
def nginx(tmp_path: Path) -> Iterator[tuple[int, list[tuple[str, str, int]]]]:
    server = need("nginx", "nginx-light")
    binhost(tmp_path / "home")
    port = free_port()
    with stand_in_api() as (api_port, seen):
        config = nginx_config(tmp_path, port, api_port)
        check = subprocess.run([server, "-t", "-c", str(config), "-p", str(tmp_path)], check=False, capture_output=True, text=True)
        assert check.returncode == 0 and "test is successful" in check.stderr, check.stderr
        process = subprocess.Popen([server, "-c", str(config), "-p", str(tmp_path), "-g", "daemon off;"], stderr=subprocess.PIPE)
        try:
            wait_for(lambda: process.poll() is not None or _listens(port), 10, "nginx to listen")
            assert process.poll() is None, process.stderr.read() if process.stderr else ""
            yield port, seen
        finally:
            process.terminate()
            process.wait(timeout=10)


def test_nginx_serves_the_binhost_with_its_types_and_nothing_else_of_swarm_home(nginx: tuple[int, list[tuple[str, str, int]]]) -> None:
    port, seen = nginx
    base = f"http://127.0.0.1:{port}"
    index = httpx.get(f"{base}/binhost/amd64/Packages")
    assert (index.status_code, index.text, index.headers["cache-control"]) == (200, "PACKAGES: 1\n", "no-cache")
    assert index.headers["content-type"].startswith("text/plain")
    package = httpx.get(f"{base}/binhost/amd64/app-misc/tmux/tmux-3.5-1.gpkg.tar")
    assert (package.status_code, package.headers["content-type"], len(package.content)) == (200, "application/x-tar", 400)
    assert "immutable" in package.headers["cache-control"]
    assert httpx.get(f"{base}/binhost/amd64/.Packages.lock").status_code == 404
    assert [raw_status(port, path) for path in ("/swarm.db", "/binhost/../swarm.db", "/binhost/")] == [404, 404, 403]
    assert seen == []  # none of it reached the API


def test_nginx_proxies_the_api_and_lets_only_uploads_be_large(nginx: tuple[int, list[tuple[str, str, int]]]) -> None:
    port, seen = nginx
    base, big = f"http://127.0.0.1:{port}", b"x" * (3 << 20)
    for path in ("/api/v1/status", "/metrics", "/health", "/docs", "/openapi.json", "/ui/"):
        assert httpx.get(base + path).status_code == 200, path
    assert httpx.put(f"{base}/api/v1/artifacts/a1/tmux-3.5-1.gpkg.tar", content=big).status_code == 200
    assert httpx.put(f"{base}/api/v1/logs/a1", content=big).status_code == 200
    assert httpx.post(f"{base}/api/v1/queue", content=big).status_code == 413  # refused by nginx, never sent on
    assert seen == [("GET", "/api/v1/status", 0), ("GET", "/metrics", 0), ("GET", "/health", 0), ("GET", "/docs", 0),
                    ("GET", "/openapi.json", 0), ("GET", "/ui/", 0), ("PUT", "/api/v1/artifacts/a1/tmux-3.5-1.gpkg.tar", 3 << 20),
                    ("PUT", "/api/v1/logs/a1", 3 << 20)]


def test_logrotate_accepts_the_file_and_rotates_a_log_still_being_written(tmp_path: Path) -> None:
    logrotate = need("logrotate", "logrotate")
    check = subprocess.run([logrotate, "-d", "-s", str(tmp_path / "state"), str(DEPLOY / "logrotate" / "build-swarm")], check=False,
                           capture_output=True, text=True)
    assert check.returncode == 0 and "error" not in check.stderr.lower(), check.stderr
    text = (DEPLOY / "logrotate" / "build-swarm").read_text()
    assert "/var/log/build-swarm/*.log" in text
    (tmp_path / "log").mkdir()
    (tmp_path / "build-swarm").write_text(text.replace("/var/log/build-swarm/", f"{tmp_path / 'log'}/"))
    with (tmp_path / "log" / "drone.box1.log").open("a") as writer:  # O_APPEND, as supervise-daemon opens it
        writer.write("before\n")
        writer.flush()
        run = subprocess.run([logrotate, "-f", "-s", str(tmp_path / "state"), str(tmp_path / "build-swarm")], check=False,
                             capture_output=True, text=True)
        assert run.returncode == 0, run.stderr
        writer.write("after\n")
    assert (tmp_path / "log" / "drone.box1.log.1").read_text() == "before\n"
    assert (tmp_path / "log" / "drone.box1.log").read_bytes() == b"after\n"  # no hole where "before" was


# --- the environment examples ---------------------------------------------------------------------------------------

KNOWN = set(Settings().to_env())
DRONE_ONLY = {"SWARM_ARCH", "SWARM_DRONE_NAME", "SWARM_COORDINATOR_URL", "SWARM_CORES_PER_SLOT", "SWARM_CORE_LIMIT", "SWARM_DRONE_PAUSED",
              "SWARM_DRONE_TOKEN", "SWARM_EMERGE", "SWARM_EMERGE_PREFIX", "SWARM_HEARTBEAT", "SWARM_START_REPORT_AFTER", "SWARM_PKGDIR", "SWARM_PORTAGE_CONFIGROOT", "SWARM_PORTAGE_TMPDIR",
              "SWARM_SIMULATE_FAIL", "SWARM_SIMULATE_SPEED", "SWARM_SIMULATE_NOISE", "SWARM_SIMULATE_BIAS", "SWARM_SIMULATE_TRANSIENT",
              "SWARM_SIMULATE_SEED", "SWARM_SLOTS", "SWARM_TIME_SCALE"}
COORDINATOR_ONLY = {"SWARM_ALERT_WEBHOOK", "SWARM_API_HOST", "SWARM_API_PORT", "SWARM_BREAKER_FAILURES", "SWARM_BREAKER_WINDOW",
                    "SWARM_FLEET_FILE", "SWARM_GPG_HOME", "SWARM_GROUND_FOR", "SWARM_HEAL_COOLDOWN", "SWARM_HEAL_GRACE", "SWARM_LEASE",
                    "SWARM_OFFLINE_AFTER", "SWARM_PROBE_EVERY", "SWARM_PUBLIC_STATUS", "SWARM_RECLAIM_EVERY", "SWARM_RETRY_BACKOFF",
                    "SWARM_RETRY_FACTOR", "SWARM_RETRY_TRIES", "SWARM_SNAPSHOT_KEEP", "SWARM_SSH_TIMEOUT", "SWARM_STUCK_AFTER",
                    "SWARM_TREE_CHECK_EVERY", "SWARM_TREE_SLACK", "SWARM_REPO", "SWARM_WHEELHOUSE", "SWARM_DRONE_BROKER_URL",
                    "SWARM_DRONE_SPEC", "SWARM_AUDIT_EVERY", "SWARM_AUDIT_HOLD", "SWARM_GENERATIONS_KEEP", "SWARM_BINHOST_BUDGET",
                    "SWARM_SCHEDULER", "SWARM_LOOKAHEAD_HORIZON"}
NOT_FOR_DRONES = {"SWARM_DATABASE_URL", "SWARM_SQL_DATABASE_URL", "SWARM_API_TOKEN", "SWARM_SIGNING_KEY"}  # read_conf refuses them
SUBSET = re.compile(r'[A-Z][A-Z0-9_]*=("[^"$`\\]*"|[^"\'$`\\\s]*)')  # what systemd and the OpenRC services read alike


def assignments(path: Path, defaults: bool) -> dict[str, str]:
    """The NAME=value lines of an example; with ``defaults``, the "#SWARM_NAME=default" lines too."""
    found = {}
    for raw in path.read_text().splitlines():
        line = raw[1:] if defaults and raw.startswith("#SWARM_") else raw
        if line and not line.startswith("#"):
            key, _, value = line.partition("=")
            found[key] = value.strip('"')
    return found


def test_the_coordinator_env_example_keeps_to_the_subset_both_managers_read_and_shows_true_defaults() -> None:
    from flower.command import is_flower_envvar

    path = DEPLOY / "env" / "coordinator.env.example"
    lines = [line.removeprefix("#") for line in path.read_text().splitlines() if re.match(r"#?(SWARM|FLOWER)_", line)]
    assert [line for line in lines if not SUBSET.fullmatch(line)] == []
    names = [line.split("=")[0] for line in lines]
    assert [n for n in names if not n.startswith("SWARM_") and not is_flower_envvar(n)] == []
    assert {n for n in names if n.startswith("SWARM_")} == KNOWN - DRONE_ONLY  # every setting of the role
    active = assignments(path, defaults=False)
    assert Settings.from_env(assignments(path, defaults=True)).to_env() == Settings.from_env(active).to_env()


def test_the_drone_conf_example_passes_read_conf_and_shows_true_defaults(tmp_path: Path) -> None:
    path = DEPLOY / "env" / "drone.conf.example"
    active = read_conf(path)
    assert active["SWARM_BUILDER"] == "emerge" and "SWARM_DRONE_TOKEN" in active
    everything = tmp_path / "drone.conf"
    everything.write_text("".join(line.removeprefix("#") + "\n" for line in path.read_text().splitlines() if line.startswith(("#SWARM_", "SWARM_"))))
    assert Settings.from_env(read_conf(everything)).to_env() == Settings.from_env(active).to_env()
    assert set(read_conf(everything)) == KNOWN - COORDINATOR_ONLY - NOT_FOR_DRONES  # every setting of the role
