"""Signed binhost: portage's own GPKG verification accepts what the coordinator signs with the key it serves,
and rejects a tampered file, an unsigned one and one signed by a key the client does not trust."""

from __future__ import annotations

import hashlib
import json
import shutil
import subprocess
import tarfile
import tempfile
from collections.abc import Iterator
from dataclasses import replace
from pathlib import Path

import pytest

from swarm_celery.binhost.gpkg_read import read_gpkg_metadata
from swarm_celery.binhost.index import parse_index
from swarm_celery.binhost.publisher import SIGNING_KEY_FILE, BinhostPublisher
from swarm_celery.binhost.signing import GpgSigner
from swarm_celery.domain.durations import Durations
from swarm_celery.domain.model import BuildRequest, PackageState
from swarm_celery.domain.records import PackageInfo
from swarm_celery.drone.builders import SimulateBuilder
from tests.integration.demo_kit import cli_env, run_cli
from tests.integration.portage_kit import portage_run

REQUEST = BuildRequest("b" * 32, "s1", "app-misc/tmux-3.5a", "amd64", "0", "gentoo", ("amd64", "utempter"))
PACKAGE = PackageInfo(1, "s1", "app-misc/tmux-3.5a", "0", "0", "gentoo", ("amd64", "utempter"), 0, PackageState.BUILDING, "b" * 32)


def gpg(home: Path, *args: str, stdin: bytes = b"") -> subprocess.CompletedProcess[bytes]:
    return subprocess.run(["gpg", "--homedir", str(home), "--batch", "--no-tty", *args], input=stdin, capture_output=True, check=True)


@pytest.fixture
def homes() -> Iterator[dict[str, Path]]:
    """Short GnuPG homes (gpg-agent's socket path has a length limit): the coordinator's, a client's, a stranger's."""
    root = Path(tempfile.mkdtemp(prefix="bsg", dir="/tmp"))
    root.chmod(0o755)  # portage verifies as nobody: it must reach the client's keyring
    found = {name: root / name for name in ("swarm", "client", "stranger")}
    for home in found.values():
        home.mkdir(mode=0o700)
    try:
        yield found
    finally:
        for home in found.values():
            subprocess.run(["gpgconf", "--homedir", str(home), "--kill", "gpg-agent"], capture_output=True, check=False)
        shutil.rmtree(root, ignore_errors=True)


def keygen(home: Path) -> str:
    env = cli_env(home.parent / "cli", home.parent / "cache") | {"SWARM_GPG_HOME": str(home)}
    run = run_cli(["binhost", "keygen", "--name", f"swarm test <{home.name}@localhost>", "--json"], env)
    assert run.code == 0, run.output
    return str(json.loads(run.stdout)["fingerprint"])


def publish(tmp_path: Path, signer: GpgSigner | None) -> tuple[Path, Path]:
    out = SimulateBuilder(Durations({}), 0.0).build(REQUEST, tmp_path / "staging" / REQUEST.attempt_id)  # where a drone leaves it
    publisher = BinhostPublisher(tmp_path / "binhost", signer=signer, staging=tmp_path / "staging")
    published = publisher.publish("amd64", out.artifact, out.sha256, PACKAGE)
    return tmp_path / "binhost", tmp_path / "binhost" / "amd64" / published.path


def trust(client: Path, binhost: Path, fingerprint: str) -> None:
    """The client-config steps: import the served key, trust it ultimately, let portage's verifying user read it."""
    gpg(client, "--import", stdin=(binhost / SIGNING_KEY_FILE).read_bytes())
    gpg(client, "--import-ownertrust", stdin=f"{fingerprint}:6:\n".encode())
    gpg(client, "--check-trustdb")  # portage runs gpg --verify with --no-auto-check-trustdb
    readable(client)


def readable(client: Path) -> None:
    client.chmod(0o755)
    for name in ("pubring.kbx", "trustdb.gpg"):
        (client / name).chmod(0o644)


def verify(tmp_path: Path, client: Path, paths: list[Path]) -> dict[str, dict[str, object]]:
    make_conf = f'FEATURES="binpkg-request-signature"\nBINPKG_GPG_VERIFY_GPG_HOME="{client}"\n'
    got = portage_run(tmp_path, {"op": "read", "paths": [str(p) for p in paths], "keys": ["CATEGORY", "PF"], "make_conf": make_conf})
    return {p: got[str(p)] for p in map(str, paths)}  # type: ignore[misc]


def test_portage_verifies_what_we_sign_and_rejects_tampering(tmp_path: Path, homes: dict[str, Path]) -> None:
    fingerprint = keygen(homes["swarm"])
    binhost, signed = publish(tmp_path, GpgSigner(homes["swarm"], fingerprint))
    with tarfile.open(signed) as container:
        names = [m.name.split("/")[1] for m in container.getmembers()]
    assert names == ["gpkg-1", "metadata.tar.gz", "metadata.tar.gz.sig", "image.tar.gz", "image.tar.gz.sig", "Manifest"]
    assert read_gpkg_metadata(signed)["PF"] == "tmux-3.5a"  # our own reader still checks every Manifest line
    entry = parse_index((binhost / "amd64" / "Packages").read_text())[1][0]
    assert entry.size == signed.stat().st_size and entry.sha1 == hashlib.sha1(signed.read_bytes()).hexdigest()  # the signed file

    trust(homes["client"], binhost, fingerprint)
    tampered = tmp_path / "tampered" / signed.name
    tampered.parent.mkdir()
    tampered.write_bytes(_flip_in_member(signed.read_bytes(), signed, "image.tar.gz"))
    result = verify(tmp_path, homes["client"], [signed, tampered])
    assert "error" not in result[str(signed)], result[str(signed)]
    assert {k: str(v).strip() for k, v in result[str(signed)]["metadata"].items()} == {"CATEGORY": "app-misc", "PF": "tmux-3.5a"}  # type: ignore[attr-defined]
    assert "InvalidSignature" in str(result[str(tampered)].get("error"))  # the image no longer matches its signature


def test_portage_refuses_unsigned_and_untrusted_packages(tmp_path: Path, homes: dict[str, Path]) -> None:
    fingerprint = keygen(homes["swarm"])
    stranger = keygen(homes["stranger"])
    _, unsigned = publish(tmp_path / "unsigned", None)
    binhost, foreign = publish(tmp_path / "foreign", GpgSigner(homes["stranger"], stranger))
    gpg(homes["client"], "--import", stdin=gpg(homes["swarm"], "--armor", "--export", fingerprint).stdout)
    gpg(homes["client"], "--import-ownertrust", stdin=f"{fingerprint}:6:\n".encode())
    gpg(homes["client"], "--import", stdin=(binhost / SIGNING_KEY_FILE).read_bytes())  # known, but not trusted
    gpg(homes["client"], "--check-trustdb")
    readable(homes["client"])
    result = verify(tmp_path, homes["client"], [unsigned, foreign])
    assert "InvalidSignature" in str(result[str(unsigned)].get("error"))  # gpg finds no signature on its Manifest (NODATA)
    assert "InvalidSignature" in str(result[str(foreign)].get("error"))  # a good signature, but by a key the client does not trust


def test_resigning_replaces_a_drones_own_signatures(tmp_path: Path, homes: dict[str, Path]) -> None:
    fingerprint, stranger = keygen(homes["swarm"]), keygen(homes["stranger"])
    _, signed = publish(tmp_path / "drone", GpgSigner(homes["stranger"], stranger))  # a drone that signs with its own key
    by_drone = tmp_path / "staging" / REQUEST.attempt_id / signed.name
    by_drone.parent.mkdir(parents=True)
    shutil.copyfile(signed, by_drone)  # staged for the coordinator, as the drone leaves it
    digest = hashlib.sha256(by_drone.read_bytes()).hexdigest()
    publisher = BinhostPublisher(tmp_path / "binhost", signer=GpgSigner(homes["swarm"], fingerprint), staging=tmp_path / "staging")
    resigned = tmp_path / "binhost" / "amd64" / publisher.publish("amd64", by_drone, digest, PACKAGE).path
    trust(homes["client"], tmp_path / "binhost", fingerprint)
    assert "error" not in verify(tmp_path, homes["client"], [resigned])[str(resigned)]
    with tarfile.open(resigned) as container:
        assert sum(m.name.endswith(".sig") for m in container.getmembers()) == 2  # no leftover signature of the drone's


def test_a_signed_rebuild_gets_build_id_2_and_portage_verifies_it(tmp_path: Path, homes: dict[str, Path]) -> None:
    fingerprint = keygen(homes["swarm"])
    signer = GpgSigner(homes["swarm"], fingerprint)
    binhost, first = publish(tmp_path, signer)
    again = replace(REQUEST, attempt_id="c" * 32)
    out = SimulateBuilder(Durations({}), 0.0).build(again, tmp_path / "staging" / again.attempt_id)
    publisher = BinhostPublisher(binhost, signer=signer, staging=tmp_path / "staging")
    second = binhost / "amd64" / publisher.publish("amd64", out.artifact, out.sha256, replace(PACKAGE, current_attempt=again.attempt_id)).path
    assert first.name == "tmux-3.5a-1.gpkg.tar" and second.name == "tmux-3.5a-2.gpkg.tar"
    trust(homes["client"], binhost, fingerprint)
    make_conf = f'FEATURES="binpkg-request-signature"\nBINPKG_GPG_VERIFY_GPG_HOME="{homes["client"]}"\n'
    got = portage_run(tmp_path, {"op": "read", "paths": [str(second)], "keys": ["PF", "BUILD_ID"], "make_conf": make_conf})
    result = got[str(second)]
    assert "error" not in result, result  # type: ignore[operator]
    assert {k: str(v).strip() for k, v in result["metadata"].items()} == {"PF": "tmux-3.5a", "BUILD_ID": "2"}  # type: ignore[index]


def test_client_config_describes_the_binhost_as_served_without_the_key_in_this_shell(tmp_path: Path, homes: dict[str, Path]) -> None:
    fingerprint = keygen(homes["swarm"])
    publish(tmp_path, GpgSigner(homes["swarm"], fingerprint))  # SWARM_HOME=tmp_path: its binhost is tmp_path/binhost
    env = cli_env(tmp_path, tmp_path / "cache")  # no SWARM_SIGNING_KEY, no SWARM_GPG_HOME
    run = run_cli(["binhost", "client-config", "--json"], env)
    assert run.code == 0, run.output
    config = json.loads(run.stdout)
    assert config["signed"] and config["fingerprint"] == fingerprint and "verify-signature = true" in config["binrepos_conf"]
    unsigned = tmp_path / "plain"
    publish(unsigned, None)
    plain = json.loads(run_cli(["binhost", "client-config", "--json"], cli_env(unsigned, tmp_path / "cache")).stdout)
    assert not plain["signed"] and "verify-signature = false" in plain["binrepos_conf"]


def test_a_missing_signing_key_is_named(tmp_path: Path, homes: dict[str, Path]) -> None:
    env = cli_env(tmp_path / "home", tmp_path / "cache") | {"SWARM_GPG_HOME": str(homes["swarm"]), "SWARM_SIGNING_KEY": "0" * 40}
    run = run_cli(["binhost", "client-config"], env)
    assert run.code == 2 and f"no secret key '{'0' * 40}' in {homes['swarm']}: create one with `build-swarm binhost keygen`" in run.stderr


def _flip_in_member(data: bytes, path: Path, member: str) -> bytes:
    """The container with one byte of ``member``'s payload changed (the tar structure intact)."""
    with tarfile.open(path) as container:
        info = next(m for m in container.getmembers() if m.name.endswith("/" + member))
    offset = info.offset_data + info.size // 2
    return data[:offset] + bytes([data[offset] ^ 0xFF]) + data[offset + 1:]
