"""docker-compose.yml: validated by docker-compose and against the compose-spec schema (always), and brought up for real by
docker-compose on a private Docker engine (when one can be started) on a Debian base made with debootstrap: the synthetic
world queued through the API is built by two scaled drones, every package is published and served, Flower sees the
workers behind basic auth, no password is in a process list, and `docker-compose down -v` leaves nothing."""

from __future__ import annotations

import json
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest
import yaml

from swarm_celery.resolve.synthetic import synthetic_world
from tests.conftest import ROOT
from tests.integration.deploy_kit import free_port, need, wait_for
from tests.integration.docker_kit import Engine, base_image, engine

COMPOSE = ROOT / "docker-compose.yml"
EXAMPLE = ROOT / "deploy" / "docker" / "compose.env.example"
CHECK_JSONSCHEMA = str(Path(sys.executable).parent / "check-jsonschema")
SECRET = "c0mp0se5ecret"


def compose(env_file: Path, *args: str, project: str = "bsconfig", env: dict[str, str] | None = None,
            timeout: float = 900) -> subprocess.CompletedProcess[str]:
    argv = [need("docker-compose", "docker-compose"), "--env-file", str(env_file), "-f", str(COMPOSE), "-p", project, *args]
    return subprocess.run(argv, cwd=ROOT, env=env, capture_output=True, text=True, timeout=timeout, check=False)


def env_file(path: Path, **values: str) -> Path:
    """The example with its CHANGE-ME secrets filled in and ``values`` set."""
    lines = [line.replace("=CHANGE-ME", f"={SECRET}") for line in EXAMPLE.read_text().splitlines()]
    path.write_text("\n".join([*lines, *(f"{k}={v}" for k, v in values.items())]) + "\n")
    return path


# --- always: the file as docker-compose and the compose spec read it ---------------------------------------------

def test_docker_compose_reads_the_file_with_the_example_env(tmp_path: Path) -> None:
    run = compose(env_file(tmp_path / "c.env"), "config")
    assert run.returncode == 0, run.stderr
    config = yaml.safe_load(run.stdout)
    assert set(config["services"]) == {"redis", "postgres", "coordinator", "flower", "drone"}
    assert set(config["volumes"]) >= {"postgres", "redis", "binhost", "uploads", "staging"}
    assert all("healthcheck" in service for service in config["services"].values())
    assert config["services"]["coordinator"]["depends_on"] == {"redis": {"condition": "service_healthy"},
                                                               "postgres": {"condition": "service_healthy"}}
    assert config["services"]["drone"]["depends_on"] == {"coordinator": {"condition": "service_healthy"}}
    assert config["services"]["coordinator"]["build"]["args"] == {"BASE_IMAGE": "debian:bookworm-slim"}
    assert config["services"]["coordinator"]["environment"]["SWARM_BROKER_URL"] == f"redis://:{SECRET}@redis:6379/0"


def test_a_missing_secret_stops_docker_compose_with_what_to_set(tmp_path: Path) -> None:
    path = tmp_path / "c.env"
    path.write_text("\n".join(line for line in env_file(path).read_text().splitlines() if not line.startswith("REDIS_PASSWORD")))
    run = compose(path, "config", "-q")
    assert run.returncode == 1 and "set REDIS_PASSWORD in .env" in run.stderr, run.stderr


def test_the_file_follows_the_compose_spec_and_the_check_catches_a_mistake(tmp_path: Path) -> None:
    run = subprocess.run([CHECK_JSONSCHEMA, "--builtin-schema", "vendor.compose-spec", str(COMPOSE)], capture_output=True, text=True,
                         timeout=120, check=False)
    assert run.returncode == 0, run.stdout + run.stderr
    broken = tmp_path / "docker-compose.yml"
    broken.write_text(COMPOSE.read_text().replace("condition: service_healthy", "condition: healthy", 1))
    run = subprocess.run([CHECK_JSONSCHEMA, "--builtin-schema", "vendor.compose-spec", str(broken)], capture_output=True, text=True,
                         timeout=120, check=False)
    assert run.returncode == 1 and "healthy" in run.stdout, run.stdout


def test_no_secret_is_written_into_the_compose_file_or_the_images() -> None:
    text = COMPOSE.read_text() + (ROOT / "deploy" / "docker" / "Dockerfile").read_text()
    assert "PASSWORD=" not in text.replace("REDIS_PASSWORD=\\\"$$REDIS_PASSWORD", "")
    for variable in ("REDIS_PASSWORD", "POSTGRES_PASSWORD", "SWARM_API_TOKEN", "FLOWER_PASSWORD"):
        assert f"${{{variable}:?" in text, f"{variable} must come from the env file, and be required"


# --- with a Docker engine: the whole stack ---------------------------------------------------------------------------

@pytest.fixture(scope="module")
def docker() -> Iterator[Engine]:
    with engine() as it:
        yield it


@pytest.mark.slow
def test_the_stack_builds_the_synthetic_world_through_the_api_and_down_v_leaves_nothing(docker: Engine, tmp_path: Path) -> None:
    api, flower = free_port(), free_port()
    conf = env_file(tmp_path / "stack.env", BASE_IMAGE=base_image(docker), BUILD_SWARM_API_PORT=str(api), BUILD_SWARM_API_BIND="127.0.0.1",
                    BUILD_SWARM_FLOWER_PORT=str(flower), BUILD_SWARM_REDIS_PORT=str(free_port()), SWARM_TIME_SCALE="0.001")
    project = f"bs{int(time.time())}"
    started = time.monotonic()
    run = compose(conf, "build", project=project, env=docker.env)
    assert run.returncode == 0, run.stdout[-3000:] + run.stderr[-3000:]
    built = time.monotonic()
    try:
        run = compose(conf, "up", "-d", "--scale", "drone=2", project=project, env=docker.env)
        assert run.returncode == 0, run.stdout[-3000:] + run.stderr[-3000:]
        _wait_healthy(conf, project, docker)
        _builds_and_serves_the_world(f"http://127.0.0.1:{api}")
        _flower_sees_the_workers(f"http://127.0.0.1:{flower}")
        _no_password_in_a_process_list(docker, project)
        _the_coordinator_image_carries_what_provisioning_needs(docker, project)
    finally:
        logs = compose(conf, "logs", "--no-color", "--tail", "40", project=project, env=docker.env).stdout
        down = compose(conf, "down", "-v", project=project, env=docker.env)
    assert down.returncode == 0, down.stderr + logs
    label = f"label=com.docker.compose.project={project}"
    assert docker.docker("ps", "-aq", "--filter", label).stdout.strip() == ""
    assert docker.docker("volume", "ls", "-q", "--filter", label).stdout.strip() == ""
    assert docker.docker("network", "ls", "-q", "--filter", label).stdout.strip() == ""
    print(f"images built in {built - started:.0f} s, the stack ran and went in {time.monotonic() - built:.0f} s")


def _wait_healthy(conf: Path, project: str, docker: Engine) -> None:
    deadline = time.monotonic() + 240
    while True:
        ids = compose(conf, "ps", "-q", project=project, env=docker.env).stdout.split()
        states = json.loads(docker.docker("inspect", *ids).stdout) if ids else []
        health = {s["Name"]: s["State"].get("Health", {}).get("Status", s["State"]["Status"]) for s in states}
        if len(health) == 6 and all(h in ("healthy", "starting") for h in health.values()) and \
                sum(h == "healthy" for h in health.values()) >= 4:  # the drones' first check comes after a minute
            return
        assert time.monotonic() < deadline, f"the stack did not become healthy: {health}"
        assert not any(h in ("exited", "dead", "unhealthy") for h in health.values()), health
        time.sleep(1)


def _builds_and_serves_the_world(url: str) -> None:
    admin = {"Authorization": f"Bearer {SECRET}"}
    queued = httpx.post(f"{url}/api/v1/queue", json={"atoms": list(synthetic_world())}, headers=admin, timeout=60)
    assert queued.status_code == 202, queued.text
    session = queued.json()["session"]
    deadline = time.monotonic() + 300
    while (status := httpx.get(f"{url}/api/v1/sessions/{session}", headers=admin, timeout=30).json())["state"] != "complete":
        assert time.monotonic() < deadline and status["state"] in ("planning", "running"), status
        time.sleep(1)
    assert status["counts"]["published"] == status["planned"] > 40 and status["simulated"] is True
    index = httpx.get(f"{url}/binhost/amd64/Packages", timeout=30)
    assert index.status_code == 200
    paths = [line.split(": ", 1)[1] for line in index.text.splitlines() if line.startswith("PATH: ")]
    assert len(paths) == status["planned"]
    package = httpx.get(f"{url}/binhost/amd64/{paths[0]}", timeout=30)
    assert package.status_code == 200 and package.content[:100].find(b"gpkg-1") >= 0
    drones = {d["name"] for d in httpx.get(f"{url}/api/v1/fleet", headers=admin, timeout=30).json()}
    builders = {a["drone"] for a in httpx.get(f"{url}/api/v1/sessions/{session}/history", headers=admin, timeout=30).json()}
    assert len(drones) == 2 and builders <= drones and builders


def _flower_sees_the_workers(url: str) -> None:
    assert httpx.get(f"{url}/api/workers", timeout=30).status_code == 401
    def listed() -> bool:  # Flower asks the workers with its own short timeout: the first answers may come late
        workers = httpx.get(f"{url}/api/workers?refresh=1", auth=("admin", SECRET), timeout=60).json()
        return sum(name.startswith("drone.") for name in workers) == 2 and any(name.startswith("coordinator@") for name in workers)

    wait_for(listed, 60, "Flower to list the coordinator and both drones")


def _no_password_in_a_process_list(docker: Engine, project: str) -> None:
    for service in ("redis", "postgres", "coordinator", "flower", "drone"):
        argv = docker.docker("exec", f"{project}_{service}_1", "sh", "-c", "cat /proc/[0-9]*/cmdline | tr '\\0' ' '").stdout
        assert SECRET not in argv, f"{service}: {argv}"



def _the_coordinator_image_carries_what_provisioning_needs(docker: Engine, project: str) -> None:
    """Installed from its wheel, the coordinator finds deploy/'s units and the drone spec (share/build-swarm) and its own wheel."""
    run = docker.docker("exec", f"{project}_coordinator_1", "build-swarm", "bootstrap-script", "--name", "box9", "--json", check=False)
    assert run.returncode == 0, run.stderr
    script = json.loads(run.stdout)["script"]
    assert "swarm_celery-0.1.0-py3-none-any.whl" in script and "/etc/init.d/build-swarm-drone" in script and "SWARM_DRONE_TOKEN=" in script
