"""A real portage client of a build profile's published generation: it syncs the generation's tree with portage's
zipfile module and installs from the generation's binhost, exactly as ``binhost client-config --profile`` prints them;
a package a running session has just published to staging stays out of its view; after ``binhost rollback`` the same
client sees the generation before. Builds are real (gcc, make, signed GPKGs)."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import tempfile
from collections.abc import Iterator
from pathlib import Path

import pytest

from swarm_celery.binhost.generations import GenerationFiles
from swarm_celery.binhost.publisher import BinhostPublisher
from swarm_celery.binhost.signing import GpgSigner
from swarm_celery.domain.generations import Generation, GenerationRef
from swarm_celery.resolve.snapshot import TreeSnapshots
from tests.realbuild import kit

pytestmark = [pytest.mark.slow, pytest.mark.skipif(os.geteuid() != 0, reason="the kit's prefixes build as root (PORTAGE_USERNAME=root)")]


@pytest.fixture
def base() -> Iterator[Path]:
    found = Path(tempfile.mkdtemp(prefix="rg", dir="/tmp"))  # short: gpg-agent's socket path has a length limit
    found.chmod(0o755)  # portage verifies signatures as nobody
    try:
        yield found
    finally:
        shutil.rmtree(found, ignore_errors=True)


def test_a_client_syncs_the_generations_tree_installs_from_it_and_follows_a_rollback(base: Path) -> None:
    key = kit.make_signing_key(base / "k")
    try:
        overlay = kit.make_overlay(base / "overlay")
        publisher = BinhostPublisher(base / "binhost", signer=GpgSigner(key.home, key.fingerprint), staging=base / "staging")
        snapshot = TreeSnapshots(base / "snapshots").take(overlay, "fp", "test")
        files = GenerationFiles(base / "binhost")
        with kit.serve(base / "binhost") as url:
            drone = kit.make_prefix(base / "drone", overlay)
            kit.trust_key(drone, key, url)
            builder = kit.drone_builder(drone, f"{url}/amd64")
            paths = []
            for cpv, slot in (("swarm-test/libgreet-1", "0/1"), ("swarm-test/goodbye-1", "0")):
                request = kit.build_request(cpv, slot)
                paths.append(kit.publish(publisher, builder.build(request, drone.root / "staging"), request).path)
            for chosen in (paths[:1], paths):  # generation 1: libgreet; generation 2: libgreet and goodbye
                made = Generation(GenerationRef("desk", "amd64", 1), 1.0, "s1", snapshot.id, str(overlay))
                files.publish(files.create("desk", "amd64", chosen, made, Path(snapshot.path)).ref)
            env = key.cli_env() | {"SWARM_HOME": str(base)}
            advice = json.loads(kit.build_swarm(["binhost", "client-config", "--profile", "desk", "--url", url, "--json"], env))
            assert advice["generation"] == "desk/amd64/2" and "sync-type = zipfile" in advice["repos_conf"]
            client = client_of(base / "client", overlay, advice)
            sync = subprocess.run([str(kit.VENV_BIN / "emaint"), "sync", "-r", kit.REPO_NAME], env=client.env(), capture_output=True,
                                  text=True, timeout=300, check=False)
            assert sync.returncode == 0, sync.stdout + sync.stderr
            synced = client.root / "var" / "db" / "repos" / kit.REPO_NAME
            assert (synced / "profiles" / "repo_name").read_text().strip() == kit.REPO_NAME
            wanted = "=swarm-test/goodbye-1"
            seen = client.emerge("--pretend", "--usepkgonly", "--getbinpkg", wanted)
            assert seen.returncode == 0 and "[binary" in seen.stdout and "goodbye-1" in seen.stdout, seen.stdout[-3000:]
            unfinished = kit.build_request("swarm-test/greetgen-1")  # a running session's build: in staging, for drones
            kit.publish(publisher, builder.build(unfinished, drone.root / "staging"), unfinished)
            assert "CPV: swarm-test/greetgen-1\n" in (base / "binhost" / "amd64" / "Packages").read_text()
            hidden = client.emerge("--pretend", "--usepkgonly", "--getbinpkg", "=swarm-test/greetgen-1")
            assert hidden.returncode != 0 and "greetgen" not in _binary_lines(hidden.stdout), hidden.stdout[-3000:]
            kit.build_swarm(["binhost", "rollback", "--profile", "desk", "--json"], env)
            gone = client.emerge("--pretend", "--usepkgonly", "--getbinpkg", wanted)
            assert gone.returncode != 0, gone.stdout[-3000:]  # generation 1 holds no goodbye
            still = client.emerge("--pretend", "--usepkgonly", "--getbinpkg", "=swarm-test/libgreet-1")
            assert still.returncode == 0 and "[binary" in still.stdout, still.stdout[-3000:]
    finally:
        key.stop_agent()


def _binary_lines(output: str) -> str:
    return "\n".join(line for line in output.splitlines() if line.startswith("[binary"))


def client_of(dest: Path, overlay: Path, advice: dict[str, object]) -> kit.Prefix:
    """A client prefix configured from client-config's answer: its repos.conf (the location under the prefix), its
    binrepos.conf and key steps; its profile is the synced tree's."""
    client = kit.make_prefix(dest, overlay)
    synced = client.root / "var" / "db" / "repos" / kit.REPO_NAME
    repos = str(advice["repos_conf"]).replace("location = /var/db/repos/", f"location = {client.root}/var/db/repos/")
    (client.config / "repos.conf" / f"{kit.REPO_NAME}.conf").write_text(f"[DEFAULT]\nmain-repo = {kit.REPO_NAME}\n\n{repos}")
    synced.mkdir(parents=True)
    kit.trust_binhost(client, [str(step) for step in advice["key_steps"]])  # type: ignore[attr-defined]
    kit.write_binrepos(client, str(advice["binrepos_conf"]))
    (client.config / "make.profile").unlink()
    (client.config / "make.profile").symlink_to(synced / "profiles" / kit.PROFILE)
    return client
