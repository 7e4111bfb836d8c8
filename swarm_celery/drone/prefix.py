"""A prefix drone: real portage in a private EPREFIX, each build with its plan's own configuration.

``SWARM_EMERGE_PREFIX`` names an EPREFIX laid out by ``build-swarm prefix init`` (:mod:`.prefix_init`): its installed
packages (``var/db/pkg``), its repositories (``etc/portage/repos.conf``), the swarm's signing key
(``etc/portage/gnupg``), and a ``make.conf`` that says only where and how this drone builds
(:data:`~swarm_celery.domain.build_config.DRONE_VARIABLES`).

At start :meth:`EmergePrefix.check` refuses, in one line, a prefix that cannot build: missing, no or a broken
profile, a profile of another arch, no gcc or make, a make.conf that sets what the plan decides. For each build
:meth:`EmergePrefix.config_root` lays out the plan's configuration (:mod:`swarm_celery.domain.build_config`) as a
``PORTAGE_CONFIGROOT`` of its own (``<EPREFIX>/var/lib/build-swarm/configs/<hash>/etc/portage``: the plan's
make.conf, then the drone's, the plan's package.*, the plan's profile in the drone's copy of the repository, and
the drone's own ``profile/package.provided``: what its host provides instead of portage, e.g. gcc or Python), reads
back what portage will read and refuses the attempt (``build-swarm: cannot reproduce the build configuration …``,
an infrastructure failure the coordinator retries elsewhere) when it does not hash the same.
"""

from __future__ import annotations

import configparser
import json
import os
import shutil
import subprocess
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import NoReturn, Protocol

from swarm_celery.domain.build_config import (
    CONFIG_FILE_NAMES,
    BuildConfig,
    assigned,
    check_config_hash,
    foreign_variables,
    layered_make_conf,
    plan_part,
)
from swarm_celery.domain.emerge_cmd import PREFIX_TOOLS, prefix_environment
from swarm_celery.errors import BuildFailed, ConfigError, UploadFailed

CONFIG_ROOTS = "var/lib/build-swarm/configs"  # under EPREFIX: one PORTAGE_CONFIGROOT per configuration hash
REFUSED = "build-swarm: cannot reproduce the build configuration"  # the failure classifier's "config" line
PORTAGE_VARIABLES = ("ARCH", "CHOST", "PKGDIR", "PORTAGE_TMPDIR", "DISTDIR")


class ConfigSource(Protocol):
    """Where a drone gets a plan's configuration by its hash (the coordinator's API, or a shared SWARM_HOME);
    UploadFailed when it cannot be had."""

    def build_config(self, config_hash: str) -> BuildConfig: ...


class SharedConfigs:
    """The configurations the coordinator keeps in a ``SWARM_HOME`` this drone shares (one host, or a shared filesystem)."""

    def __init__(self, directory: Path) -> None:
        self.directory = directory

    def build_config(self, config_hash: str) -> BuildConfig:
        path = self.directory / f"{config_hash}.json"
        try:
            check_config_hash(config_hash)
            return BuildConfig.from_json(json.loads(path.read_text()))
        except FileNotFoundError:
            raise UploadFailed(f"{path} does not exist (is SWARM_HOME shared with the coordinator? else set "
                               "SWARM_COORDINATOR_URL)") from None
        except ValueError as exc:
            raise UploadFailed(f"{path} is not a build configuration: {exc}") from None


@dataclass(frozen=True)
class PrefixInfo:
    """What ``build-swarm drone --check`` shows of a prefix, and where its builds put things."""

    root: Path
    profile: str  # the prefix's own profile (relative to profiles/); each build uses its plan's
    arch: str
    chost: str
    portage: str  # the first line of `emerge --version`
    repos: dict[str, Path]
    pkgdir: Path
    tmpdir: Path
    distdir: Path
    compiler: str
    make: str
    make_conf: tuple[str, ...]  # what the prefix's own make.conf sets (where and how it builds)

    def to_json(self) -> dict[str, object]:
        return {"prefix": str(self.root), "profile": self.profile, "arch": self.arch, "chost": self.chost, "portage": self.portage,
                "repos": {name: str(path) for name, path in self.repos.items()}, "pkgdir": str(self.pkgdir),
                "portage_tmpdir": str(self.tmpdir), "distdir": str(self.distdir), "compiler": self.compiler, "make": self.make,
                "make_conf": list(self.make_conf)}


class EmergePrefix:
    def __init__(self, root: Path, arch: str, emerge: str, environ: Mapping[str, str]) -> None:
        self.root = root
        self.arch = arch
        self.emerge = emerge
        self.environ = dict(environ)

    @property
    def config(self) -> Path:
        return self.root / "etc" / "portage"

    def env(self, config_root: Path | None = None) -> dict[str, str]:
        """The environment portage runs with here: EPREFIX, the prefix's tools and programs first on PATH, and the
        configuration root of a build."""
        return prefix_environment(self.environ, str(self.root), str(config_root) if config_root else "")

    def check(self) -> PrefixInfo:
        """What this prefix builds with; ConfigError (one line: what is wrong and what to do) when it cannot build."""
        where = f"SWARM_EMERGE_PREFIX={self.root}"
        if not self.config.is_dir():
            raise ConfigError(f"{where}: no {self.config} (lay the prefix out with `build-swarm prefix init {self.root} --repo PATH`)")
        try:
            profile = _profile_of(self.config / "make.profile", self.repos())
        except ConfigError as exc:
            raise ConfigError(f"{where}: {exc}") from None
        own = _read(self.config / "make.conf")
        foreign = foreign_variables(own)
        if foreign:
            raise ConfigError(f"{where}: its make.conf sets {', '.join(foreign)}, which each plan decides (builds use the plan's "
                              "make.conf, then this one): remove them, keep only where and how this drone builds")
        values = self._portage_values()
        if values["ARCH"] != self.arch:
            raise ConfigError(f"{where}: its profile {profile} is for ARCH {values['ARCH'] or '(none)'}, this drone builds "
                              f"{self.arch} (SWARM_ARCH): point {self.config / 'make.profile'} at an {self.arch} profile")
        compiler, make = f"gcc {self._tool('gcc', '-dumpfullversion')}", self._tool("make", "--version")
        return PrefixInfo(self.root, profile, values["ARCH"], values["CHOST"], self._portage_version(), self.repos(),
                          Path(values["PKGDIR"]), Path(values["PORTAGE_TMPDIR"]), Path(values["DISTDIR"]), compiler, make,
                          tuple(assigned(own)))

    def repos(self) -> dict[str, Path]:
        """The repositories this prefix has, by name (``etc/portage/repos.conf``, a file or a directory of them)."""
        return read_repos_conf(self.config / "repos.conf")

    def _run(self, *argv: str) -> str:
        try:
            done = subprocess.run(list(argv), env=self.env(), capture_output=True, text=True, timeout=120, check=False,
                                  stdin=subprocess.DEVNULL)
        except OSError as exc:
            raise ConfigError(f"SWARM_EMERGE_PREFIX={self.root}: cannot run {argv[0]}: {exc.strerror}") from None
        if done.returncode != 0:
            last = (done.stderr.strip() or done.stdout.strip() or f"exit status {done.returncode}").splitlines()[-1]
            raise ConfigError(f"SWARM_EMERGE_PREFIX={self.root}: `{Path(argv[0]).name} {' '.join(argv[1:])}` failed there: {last[:300]}")
        return done.stdout

    def _portage_values(self) -> dict[str, str]:
        portageq = str(Path(self.emerge).with_name("portageq"))
        out = self._run(portageq, "envvar", "-v", *PORTAGE_VARIABLES)
        values = dict(line.partition("=")[::2] for line in out.splitlines() if "=" in line)
        return {name: values.get(name, "").strip().strip("'\"") for name in PORTAGE_VARIABLES}

    def _portage_version(self) -> str:
        return self._run(self.emerge, "--version").strip().splitlines()[0][:200]

    def _tool(self, name: str, version_flag: str) -> str:
        found = shutil.which(name, path=self.env()["PATH"])
        if found is None:
            raise ConfigError(f"SWARM_EMERGE_PREFIX={self.root}: no {name} on the build PATH: install {name} "
                              f"(Debian: apt-get install {'build-essential' if name == 'gcc' else name}; Gentoo: it is in @system)")
        first = self._run(found, version_flag).strip().splitlines()
        return (first[0] if first else "?")[:120]

    def prepare(self, config_hash: str, source: ConfigSource) -> Path:
        """The configuration root a build of ``config_hash`` runs with: fetched, laid out and checked (BuildFailed if not)."""
        try:
            check_config_hash(config_hash)
        except ValueError:
            refuse(config_hash or "(none)", "the build request names no configuration (a coordinator without SWARM_BUILDER=emerge?)")
        laid_out = self.root / CONFIG_ROOTS / config_hash
        if (laid_out / "etc" / "portage").is_dir() and self._current(laid_out, config_hash):
            return laid_out  # an earlier build of this plan laid it out: nothing to fetch
        try:
            config = source.build_config(config_hash)
        except UploadFailed as exc:
            refuse(config_hash, f"it could not be fetched: {exc}")
        return self.config_root(config, config_hash)

    def config_root(self, config: BuildConfig, config_hash: str) -> Path:
        """The PORTAGE_CONFIGROOT that builds exactly ``config`` here (laid out once per hash, checked every time);
        BuildFailed with a :data:`REFUSED` line when this prefix cannot reproduce it."""
        if config.digest() != config_hash:
            refuse(config_hash, f"the configuration received hashes to {config.digest()}")
        if config.arch != self.arch:
            refuse(config_hash, f"the plan is for {config.arch}, this drone builds {self.arch}")
        root = self.root / CONFIG_ROOTS / config_hash
        if (root / "etc" / "portage").is_dir() and not self._current(root, config_hash):
            shutil.rmtree(root, ignore_errors=True)  # edited since, or this drone's own make.conf changed: laid out again
        if not (root / "etc" / "portage").is_dir():
            self._lay_out(config, config_hash, root)
        try:
            found = self.read_back(root / "etc" / "portage")
        except (ConfigError, ValueError) as exc:
            refuse(config_hash, f"{root} cannot be read back: {exc}")
        if found.digest() != config_hash:
            refuse(config_hash, f"{root} reads back as {found.digest()} ({_difference(config, found)})")
        return root

    def _current(self, root: Path, config_hash: str) -> bool:
        """Does ``root`` still read back as ``config_hash``, with this drone's make.conf of now after the plan's?"""
        etc = root / "etc" / "portage"
        try:
            found = self.read_back(etc)
        except (ConfigError, ValueError):
            return False
        layered = layered_make_conf(found.file("make.conf"), _read(self.config / "make.conf"))
        return found.digest() == config_hash and _read(etc / "make.conf") == layered

    def _lay_out(self, config: BuildConfig, config_hash: str, root: Path) -> None:
        repos = self.repos()
        missing = [name for name in config.repos if name not in repos]
        if missing:
            refuse(config_hash, f"repository {', '.join(missing)} of the plan is not in {self.config / 'repos.conf'} (add it there)")
        profile = repos[config.main_repo] / "profiles" / config.gentoo_profile
        if not profile.is_dir():
            refuse(config_hash, f"profile {config.gentoo_profile} is not in {repos[config.main_repo]}/profiles (sync this "
                                f"drone's {config.main_repo} tree)")
        own = _read(self.config / "make.conf")
        if foreign_variables(own):
            refuse(config_hash, f"{self.config / 'make.conf'} sets {', '.join(foreign_variables(own))}, which the plan decides")
        part = root.with_name(f".{root.name}.{os.getpid()}.part")
        shutil.rmtree(part, ignore_errors=True)
        etc = part / "etc" / "portage"
        etc.mkdir(parents=True)
        (etc / "make.conf").write_text(layered_make_conf(config.file("make.conf"), own))
        for name, text in config.files:
            if name != "make.conf":
                (etc / name).write_text(text)
        lines = ["[DEFAULT]", f"main-repo = {config.main_repo}", ""]
        for name in config.repos:
            lines += [f"[{name}]", f"location = {repos[name]}", ""]
        (etc / "repos.conf").write_text("\n".join(lines))
        (etc / "make.profile").symlink_to(profile)
        if (self.config / "gnupg").is_dir():  # where an unpatched make.globals looks (PORTAGE_CONFIGROOT/etc/portage/gnupg)
            (etc / "gnupg").symlink_to(self.config / "gnupg")
        provided = self.config / "profile" / "package.provided"
        if provided.is_file():  # what this drone's host provides (its toolchain, its Python): the drone's own fact
            (etc / "profile").mkdir()
            (etc / "profile" / "package.provided").symlink_to(provided)
        try:
            os.rename(part, root)
        except OSError:  # another build slot laid out the same configuration first
            shutil.rmtree(part, ignore_errors=True)

    def read_back(self, etc: Path) -> BuildConfig:
        """The configuration portage reads from ``etc``: the profile the symlink reaches, the repositories, the plan's files."""
        repos = read_repos_conf(etc / "repos.conf")
        main = _main_repo(etc / "repos.conf") or next(iter(repos), "")
        order = (main, *(name for name in repos if name != main))
        profile = _profile_of(etc / "make.profile", {main: repos[main]} if main in repos else {})
        files = tuple((name, plan_part(_read(etc / name)) if name == "make.conf" else _read(etc / name))
                      for name in CONFIG_FILE_NAMES if (etc / name).is_file())
        return BuildConfig.of(self.arch, profile, order, files)


def refuse(config_hash: str, why: str) -> NoReturn:
    line = f"{REFUSED} {config_hash}: {why}"
    raise BuildFailed(line, line)


def read_repos_conf(path: Path) -> dict[str, Path]:
    """``name → location`` of a repos.conf file or directory (``[DEFAULT]`` left out), in the order they are named."""
    parser = configparser.ConfigParser(interpolation=None)
    files = sorted(p for p in path.iterdir() if p.is_file() and not p.name.startswith(".")) if path.is_dir() else [path]
    try:
        parser.read([str(f) for f in files if f.is_file()])
    except configparser.Error as exc:
        raise ConfigError(f"{path}: {str(exc).splitlines()[0]}") from None
    return {name: Path(parser[name]["location"]) for name in parser.sections() if parser.has_option(name, "location")}


def _main_repo(path: Path) -> str:
    parser = configparser.ConfigParser(interpolation=None)
    parser.read([str(path)])
    return parser.defaults().get("main-repo", "")


def _profile_of(link: Path, repos: Mapping[str, Path]) -> str:
    """The profile ``link`` (a make.profile) reaches, relative to its repository's ``profiles/``; ConfigError if none."""
    target = Path(os.path.realpath(link))
    if not link.is_symlink() or not target.is_dir():
        raise ConfigError(f"{link} {'points at ' + os.readlink(link) + ', which does not exist' if link.is_symlink() else 'is missing'}"
                          ": point it at a profile of one of the prefix's repositories (`ln -sfn REPO/profiles/PROFILE`)")
    for location in repos.values():
        profiles = Path(os.path.realpath(location / "profiles"))
        if target.is_relative_to(profiles):
            return str(target.relative_to(profiles))
    raise ConfigError(f"{link} points at {target}, which is in none of the repositories of repos.conf "
                      f"({', '.join(repos) or 'none'}): add its repository there")


def _difference(expected: BuildConfig, found: BuildConfig) -> str:
    if found.gentoo_profile != expected.gentoo_profile:
        return f"profile {found.gentoo_profile}, not {expected.gentoo_profile}"
    if found.repos != expected.repos:
        return f"repositories {', '.join(found.repos)}, not {', '.join(expected.repos)}"
    changed = [name for name in CONFIG_FILE_NAMES if found.file(name) != expected.file(name)]
    return f"{', '.join(changed) or 'nothing'} differs"


def _read(path: Path) -> str:
    try:
        return path.read_text()
    except (FileNotFoundError, IsADirectoryError):
        return ""


__all__ = ["CONFIG_ROOTS", "PREFIX_TOOLS", "REFUSED", "ConfigSource", "EmergePrefix", "PrefixInfo", "SharedConfigs", "read_repos_conf", "refuse"]
