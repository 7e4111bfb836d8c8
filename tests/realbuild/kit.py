"""Real portage ``emerge`` in private prefixes: the ``swarm-test`` overlay, drone and client prefixes, a binhost server.

The recipe is ``/work/shared/REAL-EMERGE-FACTS.md``, followed exactly:

* :func:`make_overlay` is the package's own (:func:`swarm_celery.local.overlay.make_overlay`, what
  ``demo --builder emerge`` builds): a copy of ``swarm_celery/data/realbuild/overlay`` (EAPI 8 ebuilds, their own
  ``swarm-test/amd64`` profile, no Gentoo tree needed) with each package's tarball made reproducibly from
  ``swarm_celery/data/realbuild/sources/<P>/`` into ``<overlay>/distfiles`` and the Manifests ``ebuild … manifest`` writes;
  :func:`bump_subslot` gives a copy a ``libgreet`` revision with another sub-slot (and soname).
* :func:`make_prefix` lays out one private EPREFIX (a drone's, or any emerge's): portage's ``share/portage/config``
  with its ``repos.conf`` overwritten, ``etc/portage/{make.conf,make.profile,repos.conf/}``, a ``gtar`` symlink first
  on ``PATH``, DISTDIR / PKGDIR / PORTAGE_TMPDIR inside it; :meth:`Prefix.env` is the environment to run emerge with.
* :func:`make_client` is a binhost client: ``binrepos.conf`` and the signing key trusted exactly as
  ``build-swarm binhost client-config`` prints them (with ``/etc/portage`` read as ``<EPREFIX>/etc/portage``).
* :func:`serve` serves a binhost directory over HTTP from a thread.
* :func:`drone_builder`, :func:`build_request` and :func:`publish` are the drone's own builder
  (``emerge_argv`` + ``emerge_environment``) in a prefix and the coordinator's publisher.

**Prefix length.** A binary built in one prefix and merged into another is relocated by portage's
``chpathtool``, which pads a *shorter* EPREFIX with ``/`` but overwrites what follows a *longer* one in
compiled files. So every prefix this kit makes has an EPREFIX of exactly :data:`EPREFIX_LENGTH`
characters (its directory name is padded with ``_``): drones all share one length, clients are never
longer than the drones, and relocation between any two of them replaces equal-length strings.
The programs find ``libgreet`` through an RPATH under EPREFIX, so a relocation gone wrong shows at run time.
One thing relocation does not fix: the installed package's ``NEEDED.ELF.2`` (in ``var/db/pkg``) keeps the
*build* prefix's paths, so preserve-libs cannot see that a relocated binary uses a library; when that library
changes soname in the installing prefix, the old one is removed and the binary breaks (a source-built consumer
keeps it: measured). Drones never face this in a swarm (same EPREFIX everywhere, usually ``""``); where
preserve-libs matters in a test, install with one EPREFIX and ``--root`` instead of relocating (not done here).

Drones and clients both trust the signing key: a drone's ``PORTAGE_BINHOST`` packages are verified
whenever they carry signatures (portage's default), and the swarm signs every published package.
"""

from __future__ import annotations

import functools
import json
import shutil
import subprocess
import sys
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from functools import partial
from http.server import SimpleHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

from swarm_celery.binhost.publisher import BinhostPublisher
from swarm_celery.domain.emerge_cmd import EmergeConfig
from swarm_celery.domain.model import BuildRequest, PackageState
from swarm_celery.domain.records import PackageInfo, PublishedArtifact
from swarm_celery.drone.builders import BuildOutput
from swarm_celery.drone.emerge import EmergeBuilder
from swarm_celery.local import overlay as shipped

HERE = Path(__file__).resolve().parent
OVERLAY_SOURCE = shipped.OVERLAY
SOURCES = shipped.SOURCES
REPO_NAME = shipped.REPO_NAME
CATEGORY = shipped.CATEGORY
PROFILE = shipped.PROFILE
EPREFIX_LENGTH = 64  # every kit prefix path has exactly this many characters (see the module docstring)
VENV_BIN = Path(sys.executable).parent  # emerge, ebuild, emaint of portage 3.0.83 from PyPI
EMERGE = VENV_BIN / "emerge"
PORTAGE_CONFIG = Path(sys.prefix) / "share" / "portage" / "config"
FEATURES = "-sandbox -usersandbox -ipc-sandbox -network-sandbox -pid-sandbox -userpriv -usersync -userfetch -news binpkg-multi-instance"
BASE_PATH = "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin"


# ----------------------------------------------------------------------------------------- the overlay


distdir = shipped.distdir


def make_overlay(dest: Path) -> Path:
    """A copy of the ``swarm-test`` overlay at ``dest`` with its tarballs in :func:`distdir` and real Manifests."""
    return shipped.make_overlay(dest, str(EMERGE))


def bump_subslot_in_place(overlay: Path, subslot: int = 2) -> tuple[Path, str]:
    """Add ``libgreet-1-r<subslot-1>`` (SLOT ``0/<subslot>``) to ``overlay`` itself, as a tree sync brings it."""
    folder = overlay / CATEGORY / "libgreet"
    text = (folder / "libgreet-1.ebuild").read_text()
    if 'SLOT="0/1"\n' not in text:
        raise RuntimeError("libgreet-1.ebuild no longer says SLOT=\"0/1\"")
    pf = f"libgreet-1-r{subslot - 1}"
    (folder / f"{pf}.ebuild").write_text(text.replace('SLOT="0/1"\n', f'SLOT="0/{subslot}"\n'))
    return overlay, f"{CATEGORY}/{pf}"


def bump_subslot(overlay: Path, dest: Path, subslot: int = 2) -> tuple[Path, str]:
    """A copy of ``overlay`` at ``dest`` with ``libgreet-1-r<subslot-1>``: SLOT ``0/<subslot>``, so ``libgreet.so.<subslot>``.

    The revision shares libgreet-1's distfile (its Manifest DIST line stays valid); libgreet-1 itself stays.
    Returns the copy and the new CPV.
    """
    if subslot < 2:
        raise ValueError(f"sub-slot {subslot}: libgreet-1 already has sub-slot 1")
    shutil.copytree(overlay, dest, symlinks=True)
    return bump_subslot_in_place(dest, subslot)


# ----------------------------------------------------------------------------------------- prefixes


@dataclass(frozen=True)
class Prefix:
    """One private EPREFIX with its own configuration, installed packages, DISTDIR, PKGDIR and PORTAGE_TMPDIR."""

    root: Path
    overlay: Path

    @property
    def config(self) -> Path:
        return self.root / "etc" / "portage"

    @property
    def distdir(self) -> Path:
        return self.root / "var" / "cache" / "distfiles"

    @property
    def pkgdir(self) -> Path:
        return self.root / "var" / "cache" / "binpkgs"

    @property
    def tmpdir(self) -> Path:
        return self.root / "var" / "tmp"

    @property
    def gnupg(self) -> Path:
        """``/etc/portage/gnupg`` of this prefix: where portage verifies binary packages (BINPKG_GPG_VERIFY_GPG_HOME)."""
        return self.config / "gnupg"

    @property
    def tools(self) -> Path:
        """The directory first on PATH: ``gtar -> /usr/bin/tar`` (portage 3.0.83 calls gtar)."""
        return self.root / "usr" / "lib" / "swarm-test-kit" / "bin"

    def env(self) -> dict[str, str]:
        """A clean environment for emerge/ebuild in this prefix: nothing of the caller's PORTAGE_*, USE or FEATURES.
        ``<EPREFIX>/usr/bin`` is on PATH, as in a Gentoo Prefix: portage takes the ebuilds' PATH from here, and eclasses
        run installed tools by name (distutils-r1 runs ``python3.12``)."""
        return {"PORTAGE_OVERRIDE_EPREFIX": str(self.root), "PATH": f"{self.tools}:{self.root}/usr/bin:{VENV_BIN}:{BASE_PATH}",
                "HOME": str(self.root / "root"), "LANG": "C.UTF-8", "TERM": "dumb"}

    def emerge(self, *args: str, extra_env: dict[str, str] | None = None, timeout: float = 600) -> subprocess.CompletedProcess[str]:
        """``emerge --color=n --nospinner ARGS`` here (NOCOLOR for the ebuild helpers too); stdout and stderr in ``.stdout``."""
        env = self.env() | {"NOCOLOR": "true"} | (extra_env or {})
        return subprocess.run([str(EMERGE), "--color=n", "--nospinner", *args], env=env, stdin=subprocess.DEVNULL,
                              stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True, timeout=timeout, check=False)

    def installed(self) -> list[str]:
        """The CPVs recorded in this prefix's ``var/db/pkg``."""
        vdb = self.root / "var" / "db" / "pkg"
        return sorted(f"{d.parent.name}/{d.name}" for d in vdb.glob("*/*") if d.is_dir())

    def path(self, rel: str) -> Path:
        """A file installed in this prefix: ``path("usr/bin/hello")``."""
        return self.root / rel


def padded(dest: Path) -> Path:
    """``dest`` with its last component padded with ``_`` to :data:`EPREFIX_LENGTH` characters."""
    dest = dest.absolute()
    if len(str(dest)) > EPREFIX_LENGTH:
        raise ValueError(f"{dest} is longer than the kit's EPREFIX length {EPREFIX_LENGTH}: use a shorter base directory")
    return dest.with_name(dest.name + "_" * (EPREFIX_LENGTH - len(str(dest))))


def make_conf(prefix: Prefix, extra: str = "") -> str:
    """make.conf as REAL-EMERGE-FACTS gives it, DISTDIR/PKGDIR/PORTAGE_TMPDIR inside the prefix, no mirrors (no internet)."""
    return (f'FEATURES="{FEATURES}"\nPORTAGE_USERNAME="root"\nPORTAGE_GRPNAME="root"\nACCEPT_LICENSE="*"\nBINPKG_FORMAT="gpkg"\n'
            f'PORTAGE_TRUST_HELPER=""\nGENTOO_MIRRORS=""\nDISTDIR="{prefix.distdir}"\nPKGDIR="{prefix.pkgdir}"\n'
            f'PORTAGE_TMPDIR="{prefix.tmpdir}"\n{extra}')


def repos_conf(overlay: Path) -> str:
    return f"[DEFAULT]\nmain-repo = {REPO_NAME}\n\n[{REPO_NAME}]\nlocation = {overlay}\n"


def install_portage_config(prefix: Prefix) -> None:
    """``<EPREFIX>/share/portage/config``: portage's own, ``repos.conf`` naming the overlay, and make.globals' one unprefixed
    path (``BINPKG_GPG_VERIFY_GPG_HOME="/etc/portage/gnupg"``) under EPREFIX, as a Prefix install of portage has it."""
    config = prefix.root / "share" / "portage" / "config"
    shutil.copytree(PORTAGE_CONFIG, config)
    (config / "repos.conf").write_text(repos_conf(prefix.overlay))
    globals_file = config / "make.globals"
    text = globals_file.read_text()
    if 'BINPKG_GPG_VERIFY_GPG_HOME="/etc/portage/gnupg"' not in text:
        raise RuntimeError(f"{globals_file}: BINPKG_GPG_VERIFY_GPG_HOME is no longer /etc/portage/gnupg")
    globals_file.write_text(text.replace('BINPKG_GPG_VERIFY_GPG_HOME="/etc/portage/gnupg"',
                                         f'BINPKG_GPG_VERIFY_GPG_HOME="{prefix.gnupg}"'))


def make_prefix(dest: Path, overlay: Path, *, binhost_url: str | None = None, make_conf_extra: str = "") -> Prefix:
    """A private EPREFIX at :func:`padded` ``dest`` building from ``overlay`` with the ``swarm-test/amd64`` profile.

    ``binhost_url`` (a binhost tree, ``.../amd64``) goes into ``binrepos.conf`` with portage's default
    ``verify-signature = true``; a drone instead gets its binhost from the swarm's ``PORTAGE_BINHOST``.
    """
    prefix = Prefix(padded(dest), overlay.absolute())
    for sub in ("etc/portage/repos.conf", "var/db/pkg", "var/lib/portage", "var/cache/edb", "root"):
        (prefix.root / sub).mkdir(parents=True, exist_ok=True)
    for folder in (prefix.distdir, prefix.pkgdir, prefix.tmpdir, prefix.tools):
        folder.mkdir(parents=True, exist_ok=True)
    install_portage_config(prefix)
    (prefix.config / "repos.conf" / f"{REPO_NAME}.conf").write_text(repos_conf(prefix.overlay))
    (prefix.config / "make.profile").symlink_to(prefix.overlay / "profiles" / PROFILE)
    (prefix.config / "make.conf").write_text(make_conf(prefix, make_conf_extra))
    (prefix.tools / "gtar").symlink_to("/usr/bin/tar")
    link_host_tools(prefix)
    if distdir(prefix.overlay).is_dir():
        for tarball in distdir(prefix.overlay).iterdir():
            shutil.copyfile(tarball, prefix.distdir / tarball.name)
    if binhost_url is not None:
        write_binrepos(prefix, f"[{REPO_NAME}-binhost]\npriority = 9999\nsync-uri = {binhost_url}\nverify-signature = true\n")
    return prefix


def link_host_tools(prefix: Prefix) -> None:
    """``<EPREFIX>/usr/bin/scanelf`` → the host's (pax-utils), where portage's preserve-libs looks for it in a prefix
    (else "Disabling preserve-libs due to error: Command Not Found: <EPREFIX>/usr/bin/scanelf")."""
    scanelf = shutil.which("scanelf", path=BASE_PATH)
    if scanelf is not None:
        (prefix.root / "usr" / "bin").mkdir(parents=True, exist_ok=True)
        (prefix.root / "usr" / "bin" / "scanelf").symlink_to(scanelf)


def write_binrepos(prefix: Prefix, text: str, name: str = "build-swarm") -> Path:
    folder = prefix.config / "binrepos.conf"
    folder.mkdir(exist_ok=True)
    (folder / f"{name}.conf").write_text(text)
    return folder / f"{name}.conf"


# ----------------------------------------------------------------------------------------- signing and clients


@dataclass(frozen=True)
class SigningKey:
    """The swarm's binhost signing key: the coordinator's GnuPG home (SWARM_GPG_HOME) and the key (SWARM_SIGNING_KEY)."""

    home: Path
    fingerprint: str

    @property
    def swarm_home(self) -> Path:
        """SWARM_HOME of the coordinator holding this key (``build-swarm`` writes nothing there for keygen/client-config)."""
        return self.home.with_name(f"{self.home.name}-swarm")

    def cli_env(self) -> dict[str, str]:
        """The environment ``build-swarm`` runs with on the coordinator holding this key."""
        return {"PATH": BASE_PATH, "HOME": str(self.swarm_home), "LANG": "C.UTF-8", "SWARM_HOME": str(self.swarm_home),
                "SWARM_GPG_HOME": str(self.home), "SWARM_SIGNING_KEY": self.fingerprint}

    def stop_agent(self) -> None:
        """Stop the gpg-agent that signing started for this home."""
        subprocess.run(["gpgconf", "--homedir", str(self.home), "--kill", "gpg-agent"], capture_output=True, check=False)


def build_swarm(args: list[str], env: dict[str, str]) -> str:
    """``python -m swarm_celery ARGS``: stdout, or RuntimeError with what it printed."""
    run = subprocess.run([sys.executable, "-m", "swarm_celery", *args], env=env, capture_output=True, text=True, check=False,
                         stdin=subprocess.DEVNULL, timeout=120)
    if run.returncode != 0:
        raise RuntimeError(f"build-swarm {' '.join(args)} exited {run.returncode}: {run.stdout[-1000:]}{run.stderr[-1000:]}")
    return run.stdout


def make_signing_key(home: Path) -> SigningKey:
    """A throwaway key made by ``build-swarm binhost keygen`` in ``home`` (keep it short: gpg-agent's socket path is limited)."""
    home.mkdir(mode=0o700, parents=True)
    env = SigningKey(home, "").cli_env() | {"SWARM_SIGNING_KEY": ""}
    out = build_swarm(["binhost", "keygen", "--name", f"swarm-test binhost <{home.name}@localhost>", "--json"], env)
    return SigningKey(home, str(json.loads(out)["fingerprint"]))


@functools.cache
def client_config(key: SigningKey, base_url: str) -> dict[str, object]:
    """What ``build-swarm binhost client-config --url BASE --json`` tells a client (binrepos.conf, the key steps);
    asked once per key and URL (the answer does not depend on the client)."""
    return dict(json.loads(build_swarm(["binhost", "client-config", "--url", base_url, "--json"], key.cli_env())))


def trust_binhost(prefix: Prefix, steps: list[str]) -> None:
    """Run the client-config key steps (as root) in ``prefix``: ``/etc/portage/gnupg`` is the prefix's."""
    script = "set -e\n" + "\n".join(step.replace("/etc/portage/gnupg", str(prefix.gnupg)) for step in steps)
    run = subprocess.run(["bash", "-c", script], env={"PATH": BASE_PATH, "HOME": str(prefix.root / "root")}, capture_output=True,
                         text=True, check=False, timeout=60)
    subprocess.run(["gpgconf", "--homedir", str(prefix.gnupg), "--kill", "gpg-agent"], capture_output=True, check=False)
    if run.returncode != 0:
        raise RuntimeError(f"the client-config key steps failed ({run.returncode}):\n{script}\n{run.stdout}{run.stderr}")


def trust_key(prefix: Prefix, key: SigningKey, binhost_url: str) -> dict[str, object]:
    """Trust the swarm's signing key in ``prefix`` by the steps ``build-swarm binhost client-config --url BINHOST_URL``
    prints (the key is fetched from the binhost, which must be served); returns the whole client-config answer.

    A drone needs this as much as a client: its ``PORTAGE_BINHOST`` packages are verified when they are signed."""
    advice = client_config(key, binhost_url)
    steps = advice["key_steps"]
    if not isinstance(steps, list) or not steps:
        raise RuntimeError(f"client-config printed no key steps: {advice}")
    trust_binhost(prefix, [str(step) for step in steps])
    return advice


def make_client(dest: Path, overlay: Path, binhost_url: str, key: SigningKey) -> Prefix:
    """A binhost client prefix set up exactly as ``build-swarm binhost client-config`` prints for ``binhost_url``
    (the binhost's base URL, above ``<arch>/``): its ``binrepos.conf/build-swarm.conf`` and its key steps.
    Install with ``prefix.emerge("--usepkgonly", "--getbinpkg", ...)``; verification is on (portage's default)."""
    prefix = make_prefix(dest, overlay)
    advice = trust_key(prefix, key, binhost_url)
    write_binrepos(prefix, str(advice["binrepos_conf"]))
    return prefix


# ----------------------------------------------------------------------------------------- serving a binhost


class _QuietHandler(SimpleHTTPRequestHandler):
    def log_message(self, format: str, *args: object) -> None:  # the server prints nothing
        pass


@contextmanager
def serve(directory: Path) -> Iterator[str]:
    """Serve ``directory`` over HTTP on 127.0.0.1 from a thread while inside: yields its URL (no trailing slash)."""
    server = ThreadingHTTPServer(("127.0.0.1", 0), partial(_QuietHandler, directory=str(directory)))
    thread = threading.Thread(target=server.serve_forever, name=f"binhost {directory}", daemon=True)
    thread.start()
    try:
        host, port = server.server_address[:2]
        yield f"http://{host!s}:{port}"
    finally:
        server.shutdown()
        server.server_close()
        thread.join(timeout=10)


# ----------------------------------------------------------------------------------------- drones


def drone_builder(prefix: Prefix, binhost_tree: str, *, cores: int = 2, slots: int = 2, timeout: float = 600.0) -> EmergeBuilder:
    """The drone's own builder in ``prefix``: ``emerge_argv`` and ``emerge_environment`` over :meth:`Prefix.env`, its
    dependencies from ``binhost_tree`` (``PORTAGE_BINHOST``, e.g. ``<url>/amd64``), logs in ``<EPREFIX>/logs``."""
    config = EmergeConfig(binhost_tree, str(prefix.pkgdir), cores=cores, slots=slots)
    return EmergeBuilder(config, prefix.root / "logs", timeout=timeout, min_free_mb=16, tmpdir=prefix.tmpdir, emerge=str(EMERGE),
                         environ=prefix.env(), kill_grace=2.0)


PLANNED_USE = {"swarm-test/goodbye-1": ("extra",)}  # what a plan of the swarm-test profile enables (IUSE="+extra")


def build_request(cpv: str, slot: str = "0") -> BuildRequest:
    """What the coordinator would send for ``cpv`` of the swarm-test repository (attempt id from the CPV)."""
    return BuildRequest(f"att-{cpv.replace('/', '-')}", "realbuild", cpv, "amd64", slot, REPO_NAME, PLANNED_USE.get(cpv, ()))


def publish(publisher: BinhostPublisher, built: BuildOutput, request: BuildRequest) -> PublishedArtifact:
    """Publish a drone's GPKG the way the coordinator does after a successful build (verified, signed, indexed)."""
    slot, _, sub_slot = request.slot.partition("/")
    package = PackageInfo(1, request.session_id, request.cpv, slot, sub_slot or slot, request.repo, request.use, 0,
                          PackageState.BUILDING, request.attempt_id)
    assert publisher.staging is not None
    staged = publisher.staging / request.attempt_id / built.artifact.name  # where a drone on the coordinator's host leaves it
    staged.parent.mkdir(parents=True, exist_ok=True)
    shutil.copyfile(built.artifact, staged)
    return publisher.publish("amd64", staged, built.sha256, package, simulated_ok=False)
