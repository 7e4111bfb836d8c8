"""Real portage 3.0.83 ``emerge`` builds the swarm-test overlay the way drones do; a client installs the signed binhost.

Every build is real (gcc, make, GPKGs) in a private EPREFIX laid out by :mod:`tests.realbuild.kit`, run by the
drone's own builder (:class:`~swarm_celery.drone.emerge.EmergeBuilder`: ``emerge_argv`` + ``emerge_environment``)
and published by the coordinator's own publisher, signed with a throwaway key, served over HTTP. One swarm per
module: drone A builds libgreet, goodbye and greetgen; each test builds or installs from that binhost.

``SWARM_REALBUILD_WRITE_FIXTURES=1`` rewrites ``tests/realbuild/fixtures/*.log`` from the failures captured here
(the last 60 lines of the tail a drone reports, EPREFIX and the venv path taken out).
"""

from __future__ import annotations

import io
import os
import re
import shutil
import subprocess
import tarfile
import tempfile
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path

import pytest

from swarm_celery.binhost.gpkg_read import read_gpkg_metadata
from swarm_celery.binhost.publisher import BinhostPublisher
from swarm_celery.binhost.signing import GpgSigner
from swarm_celery.domain.emerge_cmd import emerge_argv
from swarm_celery.domain.failures import Classification, FailureKind, classify_failure
from swarm_celery.drone.builders import BuildFailed, BuildOutput
from tests.realbuild import kit

pytestmark = [pytest.mark.slow, pytest.mark.skipif(os.geteuid() != 0, reason="the kit's prefixes build as root (PORTAGE_USERNAME=root)")]

FIXTURES = Path(__file__).resolve().parent / "fixtures"
TAIL_LINES = 60


@dataclass
class Swarm:
    base: Path
    overlay: Path
    key: kit.SigningKey
    publisher: BinhostPublisher
    url: str  # the binhost's base URL; its amd64 tree is the drones' PORTAGE_BINHOST
    built: dict[str, BuildOutput] = field(default_factory=dict)

    @property
    def tree(self) -> str:
        return f"{self.url}/amd64"

    def drone(self, name: str, *, trusted: bool = True, overlay: Path | None = None, url: str | None = None) -> kit.Prefix:
        """A drone prefix; ``trusted``: the signing key imported by the client-config steps (drones verify signed packages)."""
        prefix = kit.make_prefix(self.base / name, overlay or self.overlay)
        if trusted:
            kit.trust_key(prefix, self.key, url or self.url)
        return prefix

    def build(self, prefix: kit.Prefix, cpv: str, slot: str = "0", *, publish: bool = True) -> BuildOutput:
        request = kit.build_request(cpv, slot)
        try:
            out = kit.drone_builder(prefix, self.tree).build(request, prefix.root / "staging")
        except BuildFailed as exc:
            pytest.fail(f"{cpv} failed on {prefix.root.name}: {exc}\n{exc.log_tail[-6000:]}")
        if publish:
            kit.publish(self.publisher, out, request)
        self.built[f"{cpv} on {prefix.root.name.rstrip('_')}"] = out
        return out


@pytest.fixture(scope="module")
def swarm() -> Iterator[Swarm]:
    base = Path(tempfile.mkdtemp(prefix="rb", dir="/tmp"))  # short: EPREFIX + etc/portage/gnupg/S.gpg-agent.* must fit a socket path
    base.chmod(0o755)  # portage verifies signatures as nobody: it must reach every prefix's gnupg
    key = kit.make_signing_key(base / "k")
    try:
        overlay = kit.make_overlay(base / "overlay")
        publisher = BinhostPublisher(base / "binhost", signer=GpgSigner(key.home, key.fingerprint), staging=base / "staging")
        (base / "binhost" / "amd64").mkdir(parents=True)
        with kit.serve(base / "binhost") as url:
            swarm = Swarm(base, overlay, key, publisher, url)
            drone_a = swarm.drone("drone-a")
            for cpv, slot in (("swarm-test/libgreet-1", "0/1"), ("swarm-test/goodbye-1", "0"), ("swarm-test/greetgen-1", "0")):
                swarm.build(drone_a, cpv, slot)
            yield swarm
            print("\nreal builds:", ", ".join(f"{name} {out.build_seconds:.1f} s" for name, out in swarm.built.items()))
    finally:
        key.stop_agent()
        shutil.rmtree(base, ignore_errors=True)


def image_files(gpkg: Path) -> list[str]:
    """The files of a GPKG's image (zstd: portage's default BINPKG_COMPRESS), relative to the EPREFIX it was built for."""
    eprefix = read_gpkg_metadata(gpkg)["EPREFIX"].strip("/")
    with tarfile.open(gpkg) as container:
        member = next(m for m in container.getmembers() if m.name.split("/")[-1].startswith("image.tar"))
        stream = container.extractfile(member)
        assert stream is not None
        data = stream.read()
    if member.name.endswith(".zst"):
        data = subprocess.run(["zstd", "-dc"], input=data, capture_output=True, check=True).stdout
    with tarfile.open(fileobj=io.BytesIO(data), mode="r:*") as image:
        names = [m.name for m in image.getmembers() if not m.isdir()]
    assert all(name.startswith(f"image/{eprefix}/") for name in names), names  # image/<EPREFIX>/usr/...
    return sorted(name.removeprefix(f"image/{eprefix}/") for name in names)


def log_of(prefix: kit.Prefix, cpv: str) -> str:
    return (prefix.root / "logs" / f"{kit.build_request(cpv).attempt_id}.log").read_text()


def built_time(built: BuildOutput) -> str:
    return read_gpkg_metadata(built.artifact)["BUILD_TIME"]


def installed_build_time(prefix: kit.Prefix, cpv: str) -> str:
    """BUILD_TIME of an installed package: the same as its binary package's when it was merged from one."""
    return (prefix.root / "var" / "db" / "pkg" / cpv / "BUILD_TIME").read_text().strip()


def run(program: Path, *args: str) -> str:
    done = subprocess.run([str(program), *args], capture_output=True, text=True, timeout=30, check=False)
    assert done.returncode == 0, f"{program}: {done.returncode}\n{done.stdout}{done.stderr}"
    return done.stdout


# ----------------------------------------------------------------------------------------- building and installing


def test_drone_a_built_with_the_swarm_command_line(swarm: Swarm) -> None:
    libgreet = swarm.built["swarm-test/libgreet-1 on drone-a"]
    log = log_of(kit.Prefix(kit.padded(swarm.base / "drone-a"), swarm.overlay), "swarm-test/libgreet-1")
    argv = " ".join(emerge_argv("swarm-test/libgreet-1", kit.REPO_NAME, str(kit.EMERGE)))
    assert f"build-swarm: running {argv}\n" in log
    assert "make -j1 -l2 " in log and "-DGREET_SOVERSION=1 -shared -Wl,-soname,libgreet.so.1" in log  # MAKEOPTS: 2 cores, 2 slots
    meta = read_gpkg_metadata(libgreet.artifact)
    assert (meta["CATEGORY"], meta["PF"], meta["SLOT"], meta["repository"]) == ("swarm-test", "libgreet-1", "0/1", "swarm-test")
    assert image_files(libgreet.artifact) == ["usr/include/greet.h", "usr/lib64/libgreet.so", "usr/lib64/libgreet.so.1"]
    if shutil.which("scanelf"):
        assert meta["PROVIDES"] == "x86_64: libgreet.so.1"
    goodbye = swarm.built["swarm-test/goodbye-1 on drone-a"]
    assert "extra" in read_gpkg_metadata(goodbye.artifact)["USE"].split()  # IUSE="+extra"
    assert image_files(goodbye.artifact) == ["usr/bin/goodbye", "usr/bin/goodbye-extra"]


def test_drone_b_takes_libgreet_from_the_binhost_and_a_client_installs_what_the_swarm_built(swarm: Swarm) -> None:
    drone_b = swarm.drone("drone-b")
    plan = drone_b.emerge("--pretend", "--verbose", "--usepkg=y", "--getbinpkg=y", "--usepkg-exclude=swarm-test/hello", "=swarm-test/hello-1",
                          extra_env={"PORTAGE_BINHOST": swarm.tree})
    assert re.search(r"^\[binary +N[^]]*\] swarm-test/libgreet-1-1:0/1::swarm-test ", plan.stdout, re.MULTILINE), plan.stdout
    assert re.search(r"^\[ebuild +N +\] swarm-test/hello-1::swarm-test ", plan.stdout, re.MULTILINE), plan.stdout
    swarm.build(drone_b, "swarm-test/hello-1")
    log = log_of(drone_b, "swarm-test/hello-1")
    assert ">>> Emerging binary (1 of 2) swarm-test/libgreet-1::swarm-test\n" in log  # fetched, verified, not compiled
    assert ">>> Emerging (2 of 2) swarm-test/hello-1::swarm-test\n" in log
    assert "Compiling source in" not in log.split(">>> Emerging (2 of 2)")[0]
    assert installed_build_time(drone_b, "swarm-test/libgreet-1") == built_time(swarm.built["swarm-test/libgreet-1 on drone-a"])
    assert installed_build_time(drone_b, "swarm-test/hello-1") == built_time(swarm.built["swarm-test/hello-1 on drone-b"])

    client = kit.make_client(swarm.base / "client", swarm.overlay, swarm.url, swarm.key)
    assert "verify-signature = true" in (client.config / "binrepos.conf" / "build-swarm.conf").read_text()
    installed = client.emerge("--usepkgonly", "--getbinpkg", "--oneshot", "swarm-test/hello", "swarm-test/goodbye")
    assert installed.returncode == 0, installed.stdout[-4000:]
    assert installed.stdout.count(">>> Emerging binary (") == 3 and ">>> Completed (3 of 3)" in installed.stdout
    assert "blank PROVIDES" not in installed.stdout
    assert client.installed() == ["swarm-test/goodbye-1", "swarm-test/hello-1", "swarm-test/libgreet-1"]
    assert run(client.path("usr/bin/hello")) == "hello: Hello, hello! (from libgreet.so.1)\n"  # through the relocated RPATH
    assert run(client.path("usr/bin/goodbye-extra"), "client") == "goodbye-extra: Hello, client! (from libgreet.so.1)\n"


def test_a_client_that_skipped_the_key_steps_is_refused(swarm: Swarm) -> None:
    stranger = kit.make_prefix(swarm.base / "stranger", swarm.overlay, binhost_url=swarm.tree)  # verify-signature = true, no key
    refused = stranger.emerge("--usepkgonly", "--getbinpkg", "--oneshot", "swarm-test/libgreet")
    assert refused.returncode == 1
    assert "binpkg signed with at least one unknown key." in refused.stdout and "GnuPG verification failed" in refused.stdout
    assert stranger.installed() == []


def test_a_build_time_tool_comes_from_the_binhost_and_generates_code(swarm: Swarm) -> None:
    drone_c = swarm.drone("drone-c")
    phrasebook = swarm.build(drone_c, "swarm-test/phrasebook-1")
    log = log_of(drone_c, "swarm-test/phrasebook-1")
    assert ">>> Emerging binary (1 of 2) swarm-test/greetgen-1::swarm-test\n" in log  # BDEPEND, from drone A
    assert f"{drone_c.root}/usr/bin/greetgen phrases.txt > phrases.c\n" in log  # ${BROOT}/usr/bin/greetgen, run in src_compile
    assert image_files(phrasebook.artifact) == ["usr/bin/phrasebook"]
    assert run(drone_c.path("usr/bin/phrasebook")).splitlines() == [
        "phrasebook: en: Good morning", "phrasebook: fr: Bonjour", "phrasebook: de: Guten Morgen"]


def test_a_use_flag_changes_what_is_built(swarm: Swarm) -> None:
    drone_d = swarm.drone("drone-d")
    (drone_d.config / "package.use").write_text("swarm-test/goodbye -extra\n")
    goodbye = swarm.build(drone_d, "swarm-test/goodbye-1", publish=False)
    assert "extra" not in read_gpkg_metadata(goodbye.artifact)["USE"].split()
    assert image_files(goodbye.artifact) == ["usr/bin/goodbye"]
    assert run(drone_d.path("usr/bin/goodbye")) == "goodbye: Hello, goodbye! (from libgreet.so.1) See you later.\n"


def test_the_overlay_is_a_dag_portage_orders(swarm: Swarm) -> None:
    prefix = kit.make_prefix(swarm.base / "pretend", swarm.overlay)
    pretend = prefix.emerge("--pretend", "--verbose", "--emptytree", "swarm-test/greet-suite")
    assert pretend.returncode == 0, pretend.stdout
    order = [m[1] for m in re.finditer(r"^\[ebuild[^\]]*\] swarm-test/([a-z-]+)-1", pretend.stdout, re.MULTILINE)]
    assert sorted(order) == ["goodbye", "greet-extras", "greet-suite", "greetgen", "hello", "libgreet", "phrasebook"]
    for before, after in (("libgreet", "hello"), ("libgreet", "goodbye"), ("greetgen", "phrasebook"), ("phrasebook", "greet-suite"),
                          ("greet-suite", "greet-extras")):  # the last one: PDEPEND, merged after what pulls it in
        assert order.index(before) < order.index(after), order
    assert re.search(r'swarm-test/goodbye-1::swarm-test +USE="extra"', pretend.stdout)


def test_a_subslot_bump_builds_the_new_soname_and_asks_for_its_consumers(swarm: Swarm) -> None:
    bumped, cpv = kit.bump_subslot(swarm.overlay, swarm.base / "overlay-bumped")
    drone_e = swarm.drone("drone-e", overlay=bumped)
    kit.write_binrepos(drone_e, f"[swarm]\nsync-uri = {swarm.tree}\n")
    merged = drone_e.emerge("--usepkgonly", "--getbinpkg", "--oneshot", "=swarm-test/libgreet-1", "swarm-test/goodbye")
    assert merged.returncode == 0, merged.stdout[-3000:]
    plan = drone_e.emerge("--pretend", "--verbose", "--update", "--deep", "swarm-test/goodbye")
    assert "[ebuild  r  U  ] swarm-test/libgreet-1-r1:0/2::swarm-test [1:0/1::swarm-test]" in plan.stdout
    assert "[ebuild  rR    ] swarm-test/goodbye-1::swarm-test" in plan.stdout  # := : a new sub-slot rebuilds its consumers
    libgreet = swarm.build(drone_e, cpv, "0/2", publish=False)
    assert read_gpkg_metadata(libgreet.artifact)["SLOT"] == "0/2"
    assert image_files(libgreet.artifact) == ["usr/include/greet.h", "usr/lib64/libgreet.so", "usr/lib64/libgreet.so.2"]
    assert ">>> Emerging (1 of 1) swarm-test/libgreet-1-r1::swarm-test" in log_of(drone_e, cpv)  # the drone rebuilds no consumer


# ----------------------------------------------------------------------------------------- failures


def build_fails(prefix: kit.Prefix, tree: str, cpv: str) -> BuildFailed:
    with pytest.raises(BuildFailed) as caught:
        kit.drone_builder(prefix, tree).build(kit.build_request(cpv), prefix.root / "staging")
    assert caught.value.exit_code == 1 and "exited with status 1" in caught.value.log_tail
    return caught.value


def reported(failure: BuildFailed, prefix: kit.Prefix, swarm: Swarm) -> str:
    """The last lines of the tail the drone reports, as a non-prefix drone would print them (EPREFIX is empty there)."""
    text = "\n".join(failure.log_tail.splitlines()[-TAIL_LINES:]) + "\n"
    return text.replace(str(prefix.root), "").replace(str(kit.EMERGE), "emerge").replace(str(swarm.base), "/var/tmp/swarm")


def check_fixture(name: str, failure: BuildFailed, tail: str, expected: Classification) -> None:
    """The whole live tail, its last lines and the stored fixture (rewritten when asked to) classify as expected."""
    whole = classify_failure(failure.log_tail, failure.exit_code)
    assert (whole.kind, whole.phase) == (expected.kind, expected.phase), whole
    fixture = FIXTURES / f"{name}.log"
    if os.environ.get("SWARM_REALBUILD_WRITE_FIXTURES") == "1":
        fixture.write_text(tail)
    assert classify_failure(tail, failure.exit_code) == expected
    assert classify_failure(fixture.read_text(), failure.exit_code) == expected


@pytest.mark.parametrize(("name", "cpv", "kind", "phase", "line"), [
    ("compile-error", "swarm-test/broken-1", FailureKind.COMPILE, "compile", "* ERROR: swarm-test/broken-1::swarm-test failed (compile phase):"),
    ("missing-distfile", "swarm-test/missing-1", FailureKind.FETCH, None, "!!! Couldn't download 'missing-1.tar.gz'. Aborting."),
    ("unsatisfiable-dependency", "swarm-test/needs-ghost-1", FailureKind.BINHOST, None,
     'emerge: there are no ebuilds to satisfy "swarm-test/ghost".'),
], ids=["compile-error", "missing-distfile", "unsatisfiable-dependency"])
def test_package_failures_of_real_emerge(swarm: Swarm, name: str, cpv: str, kind: FailureKind, phase: str | None, line: str) -> None:
    prefix = swarm.drone(name, trusted=False)  # none of them fetches a binary package
    failure = build_fails(prefix, swarm.tree, cpv)
    check_fixture(name, failure, reported(failure, prefix, swarm), Classification(kind, phase, line))


def test_a_drone_that_does_not_trust_the_signing_key_cannot_use_the_binhost(swarm: Swarm) -> None:
    untrusted = swarm.drone("untrusted-drone", trusted=False)  # the binhost is signed: portage verifies what it fetches
    failure = build_fails(untrusted, swarm.tree, "swarm-test/hello-1")
    tail = reported(failure, untrusted, swarm)
    assert "binpkg signed with at least one unknown key." in tail
    line = next(ln.strip() for ln in reversed(tail.splitlines()) if "Invalid binary package" in ln)
    assert line == ("* \t!!! Invalid binary package: '/var/cache/binpkgs/swarm-test/libgreet/libgreet-1-1.gpkg.tar.partial', "
                    "GnuPG verification failed")
    check_fixture("binpkg-untrusted-key", failure, tail, Classification(FailureKind.BINHOST, None, line))


def test_a_binary_package_the_binhost_lost(swarm: Swarm) -> None:
    lost = swarm.base / "binhost-lost"  # the index still lists libgreet, its file is gone
    shutil.copytree(swarm.base / "binhost", lost)
    (lost / "amd64/swarm-test/libgreet/libgreet-1-1.gpkg.tar").unlink()
    with kit.serve(lost) as url:
        drone = swarm.drone("lost-drone", url=url)
        failure = build_fails(drone, f"{url}/amd64", "swarm-test/hello-1")
    assert "ERROR 404: File not found." in (drone.root / "var/log/emerge-fetch.log").read_text()  # not in emerge's output
    check_fixture("binpkg-missing", failure, reported(failure, drone, swarm),
                  Classification(FailureKind.BINHOST, None, "* Fetch of swarm-test/libgreet-1 failed, see /var/log/emerge-fetch.log"))


def test_an_index_rewritten_seconds_after_a_drone_read_it_is_read_again(swarm: Swarm) -> None:
    """portage asks `If-Modified-Since: <its copy's TIMESTAMP> + 5 s`: a package published within those seconds must not
    be hidden behind a 304 (the drone would compile it)."""
    fresh = swarm.base / "binhost-fresh"
    (fresh / "amd64").mkdir(parents=True)
    publisher = BinhostPublisher(fresh, staging=swarm.base / "staging-fresh")
    with kit.serve(fresh) as url:
        kit.publish(publisher, swarm.built["swarm-test/libgreet-1 on drone-a"], kit.build_request("swarm-test/libgreet-1", "0/1"))
        drone = swarm.drone("index-drone", trusted=False)
        env = {"PORTAGE_BINHOST": f"{url}/amd64"}
        first = drone.emerge("--pretend", "--usepkg", "--getbinpkg", "=swarm-test/goodbye-1", extra_env=env)
        assert re.search(r"^\[ebuild +N[^]]*\] swarm-test/goodbye-1", first.stdout, re.MULTILINE), first.stdout
        kit.publish(publisher, swarm.built["swarm-test/goodbye-1 on drone-a"], kit.build_request("swarm-test/goodbye-1"))
        again = drone.emerge("--pretend", "--usepkg", "--getbinpkg", "=swarm-test/goodbye-1", extra_env=env)
    assert "Local copy of remote index is up-to-date" not in again.stdout
    assert re.search(r"^\[binary +N[^]]*\] swarm-test/goodbye-1", again.stdout, re.MULTILINE), again.stdout
