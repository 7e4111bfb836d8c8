"""``build-swarm prefix init``: lay out a private portage prefix for a drone on any Linux host with Python, gcc and make.

The layout is the one measured to work with portage 3.0.83 from PyPI (REAL-EMERGE-FACTS):

* ``<EPREFIX>/share/portage/config``: portage's own, with ``repos.conf`` naming the prefix's repositories (portage's
  names ``/var/db/repos/gentoo``) and make.globals' one unprefixed path, ``BINPKG_GPG_VERIFY_GPG_HOME``, under EPREFIX;
* ``etc/portage/{repos.conf/build-swarm.conf, make.profile, make.conf}``: the make.conf says only where and how this
  drone builds (DISTDIR, PKGDIR, PORTAGE_TMPDIR inside the prefix; no sandbox or userpriv without a ``portage`` user);
  each build puts its plan's make.conf before it (:mod:`.prefix`);
* ``usr/lib/build-swarm/bin/gtar`` (portage calls gtar) when the host has none; ``usr/bin/scanelf`` → the host's;
* ``etc/portage/gnupg`` trusting the swarm's signing key, fetched from the binhost, by the same steps
  ``build-swarm binhost client-config`` prints for clients: portage verifies every signed package a drone fetches.

Give every drone the same EPREFIX (binaries keep the build prefix's paths; see docs/real-builds.md).
"""

from __future__ import annotations

import configparser
import pwd
import shutil
import subprocess
import sys
import tempfile
from collections.abc import Sequence
from pathlib import Path

import httpx

from swarm_celery.domain.build_config import assigned, foreign_variables
from swarm_celery.domain.emerge_cmd import PREFIX_TOOLS
from swarm_celery.errors import ConfigError

SIGNING_KEY_FILE = "build-swarm-signing-key.asc"  # beside the arch trees of the binhost (binhost.publisher)
GNUPG_HOME = 'BINPKG_GPG_VERIFY_GPG_HOME="/etc/portage/gnupg"'
NO_SANDBOX = "-sandbox -usersandbox -ipc-sandbox -network-sandbox -pid-sandbox -userpriv -usersync -userfetch"


def repo_name(path: Path) -> str:
    """A repository's name: ``profiles/repo_name``, else ``metadata/layout.conf``'s repo-name, else the directory's."""
    for file, key in ((path / "profiles" / "repo_name", ""), (path / "metadata" / "layout.conf", "repo-name")):
        try:
            text = file.read_text()
        except OSError:
            continue
        for line in text.splitlines():
            name, eq, value = line.partition("=")
            if not key and line.strip():
                return line.strip()
            if key and eq and name.strip() == key and value.strip():
                return value.strip()
    return path.name


def portage_share_config() -> Path:
    """portage's own ``share/portage/config`` (of the Python running us, else the system's)."""
    for candidate in (Path(sys.prefix) / "share" / "portage" / "config", Path("/usr/share/portage/config")):
        if (candidate / "make.globals").is_file():
            return candidate
    raise ConfigError("portage's share/portage/config was not found (install portage: `pip install portage`, or on Gentoo "
                      "sys-apps/portage)")


def init_prefix(root: Path, repos: Sequence[Path], profile: str, *, binhost: str = "", fingerprint: str = "",
                make_conf: Sequence[str] = ()) -> list[str]:
    """Lay out the prefix ``root`` building from ``repos`` (the first holds ``profile``); returns what was done, one line each.
    ``binhost`` (its base URL, above ``<arch>/``): trust the signing key it serves (``fingerprint``: only that key)."""
    root = root.absolute()
    if (root / "etc" / "portage" / "make.conf").exists():
        raise ConfigError(f"{root} is a prefix already (etc/portage/make.conf exists): remove it first, or choose another path")
    extra = list(make_conf)
    foreign = foreign_variables("\n".join(extra))
    if foreign or len(assigned("\n".join(extra))) != len(extra):
        raise ConfigError(f"--make-conf takes NAME=value lines of where and how the drone builds; not {', '.join(foreign) or extra}")
    named = _repositories(repos)
    target = named[0][1] / "profiles" / profile
    if not target.is_dir():
        raise ConfigError(f"profile {profile} is not in {named[0][1]}/profiles: pass one of its profiles with --profile")
    done = [_layout(root, named), _link_profile(root, target), _write_make_conf(root, extra), *_tools(root)]
    if binhost:
        done.append(trust_signing_key(root / "etc" / "portage" / "gnupg", binhost, fingerprint))
    return done


def _repositories(repos: Sequence[Path]) -> list[tuple[str, Path]]:
    if not repos:
        raise ConfigError("a prefix needs its repositories: pass --repo PATH (the first holds the profile)")
    named = []
    for repo in repos:
        location = repo.expanduser().resolve()
        if not (location / "profiles").is_dir():
            raise ConfigError(f"{repo} is not an ebuild repository (no profiles/): pass the tree the coordinator resolves with")
        named.append((repo_name(location), location))
    return named


def repos_conf(named: Sequence[tuple[str, Path]]) -> str:
    parser = configparser.ConfigParser(interpolation=None)
    parser["DEFAULT"] = {"main-repo": named[0][0]}
    for name, location in named:
        parser[name] = {"location": str(location)}
    with tempfile.TemporaryFile("w+") as out:
        parser.write(out)
        out.seek(0)
        return out.read()


def _layout(root: Path, named: Sequence[tuple[str, Path]]) -> str:
    for sub in ("etc/portage/repos.conf", "var/db/pkg", "var/lib/portage", "var/cache/edb", "var/cache/distfiles", "var/cache/binpkgs",
                "var/tmp", "var/log", "root", "usr/bin", PREFIX_TOOLS):
        (root / sub).mkdir(parents=True, exist_ok=True)
    share = root / "share" / "portage" / "config"
    shutil.rmtree(share, ignore_errors=True)
    shutil.copytree(portage_share_config(), share)
    text = repos_conf(named)
    (share / "repos.conf").write_text(text)
    (root / "etc" / "portage" / "repos.conf" / "build-swarm.conf").write_text(text)
    globals_file = share / "make.globals"
    globals_file.write_text(globals_file.read_text().replace(GNUPG_HOME, f'BINPKG_GPG_VERIFY_GPG_HOME="{root}/etc/portage/gnupg"'))
    return f"laid out {root} with repositories {', '.join(f'{n} ({p})' for n, p in named)}"


def _link_profile(root: Path, target: Path) -> str:
    link = root / "etc" / "portage" / "make.profile"
    link.symlink_to(target)
    return f"make.profile -> {target}"


def _write_make_conf(root: Path, extra: Sequence[str]) -> str:
    try:
        pwd.getpwnam("portage")
        privileges = ""
    except KeyError:  # not a Gentoo host: build as the drone's own user, without portage's sandboxes
        privileges = f'FEATURES="${{FEATURES}} {NO_SANDBOX}"\nPORTAGE_USERNAME="root"\nPORTAGE_GRPNAME="root"\n'
    text = ("# where and how this drone builds; each build reads its plan's make.conf first, then this file\n"
            f'DISTDIR="{root}/var/cache/distfiles"\nPKGDIR="{root}/var/cache/binpkgs"\nPORTAGE_TMPDIR="{root}/var/tmp"\n'
            f'BINPKG_FORMAT="gpkg"\nPORTAGE_TRUST_HELPER=""\n{privileges}' + "".join(f"{line}\n" for line in extra))
    (root / "etc" / "portage" / "make.conf").write_text(text)
    return "make.conf: " + ", ".join(assigned(text))


def _tools(root: Path) -> list[str]:
    done = []
    tar = shutil.which("tar")
    if shutil.which("gtar") is None and tar is not None:
        (root / PREFIX_TOOLS / "gtar").symlink_to(tar)
        done.append(f"gtar -> {tar} (portage calls gtar)")
    scanelf = shutil.which("scanelf")
    if scanelf is not None and not (root / "usr" / "bin" / "scanelf").exists():
        (root / "usr" / "bin" / "scanelf").symlink_to(scanelf)
        done.append(f"scanelf -> {scanelf} (preserve-libs)")
    return done


def trust_signing_key(home: Path, binhost: str, fingerprint: str = "") -> str:
    """Import the signing key the binhost serves into ``home`` with full trust, readable by the user portage verifies as."""
    url = f"{binhost.rstrip('/')}/{SIGNING_KEY_FILE}"
    try:
        response = httpx.get(url, timeout=30)
    except httpx.HTTPError as exc:
        raise ConfigError(f"cannot fetch the signing key {url}: {exc}") from None
    if response.status_code != 200:
        raise ConfigError(f"cannot fetch the signing key {url}: HTTP {response.status_code} (is the binhost signed? "
                          "`build-swarm binhost client-config` on the coordinator says)")
    home.mkdir(parents=True, exist_ok=True)
    home.chmod(0o700)
    _gpg(home, ["--import"], response.content)
    found = [line.split(":")[9] for line in _gpg(home, ["--with-colons", "--list-keys"]).splitlines() if line.startswith("fpr:")]
    if fingerprint and fingerprint.upper() not in found:
        raise ConfigError(f"{url} holds {', '.join(found)}, not the key {fingerprint} you named: check the coordinator's SWARM_SIGNING_KEY")
    _gpg(home, ["--import-ownertrust"], "".join(f"{f}:6:\n" for f in found).encode())
    _gpg(home, ["--check-trustdb"])
    subprocess.run(["gpgconf", "--homedir", str(home), "--kill", "gpg-agent"], capture_output=True, check=False)
    home.chmod(0o755)  # portage verifies as nobody (GPG_VERIFY_USER_DROP), as client-config's steps set it up
    for name in ("pubring.kbx", "trustdb.gpg"):
        if (home / name).exists():
            (home / name).chmod(0o644)
    return f"trusts the signing key {', '.join(found)} from {url}"


def _gpg(home: Path, args: list[str], stdin: bytes = b"") -> str:
    gpg = shutil.which("gpg")
    if gpg is None:
        raise ConfigError("gpg is not installed: a drone verifies the swarm's signed packages with it (Debian: apt-get install gnupg)")
    done = subprocess.run([gpg, "--homedir", str(home), "--batch", *args], input=stdin, capture_output=True, timeout=60, check=False)
    if done.returncode != 0:
        raise ConfigError(f"gpg {' '.join(args)} failed in {home}: {done.stderr.decode(errors='replace').strip()[-300:]}")
    return done.stdout.decode(errors="replace")


__all__ = ["SIGNING_KEY_FILE", "init_prefix", "portage_share_config", "repo_name", "repos_conf", "trust_signing_key"]
