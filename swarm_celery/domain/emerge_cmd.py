"""The exact ``emerge`` command line and environment a drone builds one package with.

Pure: the drone's builder turns this into a process (argv, never a shell string). Every
flag and every variable is listed with the reason it is there; a unit test holds the
command to these lists, so nothing is added without saying why.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass

from swarm_celery.domain.cpv import split_cpv

# (flag, why) in the order they are passed; the target atom ``=cat/pkg-ver::repo`` comes last.
FLAGS: tuple[tuple[str, str], ...] = (
    ("--oneshot", "a drone builds for the swarm, never records the package in its own world file"),
    ("--usepkg=y", "dependencies are installed from binary packages instead of being compiled again"),
    ("--getbinpkg=y", "those binary packages come from the swarm binhost (PORTAGE_BINHOST), where the coordinator published them"),
    ("--binpkg-respect-use=y", "a binary dependency built with other USE flags is not taken: the result must match the plan"),
    ("--buildpkg=y", "the target is written as a binary package into PKGDIR: that file is what the drone uploads"),
    ("--usepkg-exclude=", "the target itself is always built from source, even when a binary of it exists (that is the job)"),
    ("--update", "dependencies the drone installed for an earlier build are brought to the plan's versions from the binhost"),
    ("--deep", "all of the target's dependency tree, not only its direct dependencies: a library whose sub-slot changed "
               "(a := dependency) is replaced before the target links it"),
    ("--newuse", "an installed dependency built with other USE flags (another profile's) is replaced by the plan's binary"),
    ("--reinstall-atoms=", "the target is built even when that version is installed on the drone (--update would skip it)"),
    ("--ask=n", "unattended: no prompt, whatever EMERGE_DEFAULT_OPTS on the drone says"),
    ("--jobs=1", "one package per emerge; the swarm runs builds in parallel across slots, make runs in parallel inside one"),
    ("--keep-going=n", "stop at the first failure: the log tail then names the failure the coordinator classifies"),
    ("--color=n", "plain text logs: the failure classifier and a human reading the log see no escape codes"),
    ("--nospinner", "no spinner characters in the streamed log"),
    ("--quiet-build=n", "the full build output goes to stdout, which the drone streams into the build log"),
)

# (variable, why); the values come from :func:`emerge_environment`.
ENVIRONMENT: tuple[tuple[str, str], ...] = (
    ("MAKEOPTS", "make jobs = the drone's cores per build slot, load limit = its cores: parallel builds share the machine"),
    ("FEATURES", "buildpkg writes the binary package; fail-clean frees the build directory after a failure (drones run "
                 "out of disk otherwise); binpkg-multi-instance keeps rebuilds apart by BUILD_ID"),
    ("BINPKG_FORMAT", "gpkg: the signed, self-describing format the swarm binhost publishes"),
    ("PKGDIR", "the drone's own package directory: fetched dependencies and the built target land here"),
    ("PORTAGE_BINHOST", "the swarm binhost tree for this drone's arch and profile, where --getbinpkg looks first"),
    ("EMERGE_DEFAULT_OPTS", "emptied: local defaults (--ask, --jobs, --autounmask-write) must not change a swarm build"),
    ("NOCOLOR", "plain text logs, also from the ebuild helpers (einfo, eerror)"),
    ("CLEAN_DELAY", "no countdown before unmerging a replaced version"),
    ("EMERGE_WARNING_DELAY", "no countdown after warnings: unattended"),
    ("LC_MESSAGES", "C: compiler and build-system messages in English, the language the failure classifier reads"),
)

# (variable, why) a prefix drone (SWARM_EMERGE_PREFIX) adds; the values come from :func:`prefix_environment`.
PREFIX_ENVIRONMENT: tuple[tuple[str, str], ...] = (
    ("PORTAGE_OVERRIDE_EPREFIX", "the drone's private prefix: its own installed packages, repositories, signing key and directories"),
    ("PORTAGE_CONFIGROOT", "the plan's own configuration (profile, make.conf, package.*), laid out by the drone for this build"),
    ("PATH", "the prefix's tools first (gtar where the host has none) and its programs (eclasses run installed tools by name)"),
)
PREFIX_TOOLS = "usr/lib/build-swarm/bin"  # under EPREFIX: the tools a prefix needs from the host (gtar)

FEATURES = ("buildpkg", "fail-clean", "binpkg-multi-instance")

_REPO = re.compile(r"^[A-Za-z0-9_][A-Za-z0-9_-]*$")  # PMS repository names
_NAME = re.compile(r"^[A-Za-z0-9_][A-Za-z0-9+_.-]*$")  # PMS category and package names
_URL = re.compile(r"^(https?|file|ssh)://\S+$")


@dataclass(frozen=True, slots=True)
class EmergeConfig:
    """A drone's build settings: where its packages go, where its dependencies come from, how hard it may work."""

    binhost_url: str  # the swarm binhost tree for this drone's arch/profile
    pkgdir: str
    cores: int
    slots: int

    def __post_init__(self) -> None:
        if not _URL.match(self.binhost_url):
            raise ValueError(f"binhost URL {self.binhost_url!r} is not an http(s)://, file:// or ssh:// URL: set SWARM_BINHOST_URL")
        if not self.pkgdir.startswith("/"):
            raise ValueError(f"PKGDIR {self.pkgdir!r} must be an absolute path: set SWARM_PKGDIR")
        if self.cores < 1 or self.slots < 1:
            raise ValueError(f"a drone needs at least one core and one slot, not {self.cores} cores and {self.slots} slots")

    @property
    def make_jobs(self) -> int:
        return max(1, self.cores // self.slots)


def target_atom(cpv: str, repo: str) -> str:
    """``=cat/pkg-ver::repo``: exactly the planned ebuild. ValueError for anything else (no option or shell syntax gets through)."""
    parsed = split_cpv(cpv)
    if not (_NAME.match(parsed.category) and _NAME.match(parsed.package)) or parsed.category.startswith("-"):
        raise ValueError(f"not a package to build: {cpv!r}")
    if not _REPO.match(repo):
        raise ValueError(f"not a repository name: {repo!r}")
    return f"={parsed}::{repo}"


def emerge_argv(cpv: str, repo: str, emerge: str = "emerge") -> list[str]:
    """The command line, one argument per element, for building ``cpv`` from ``repo``."""
    atom = target_atom(cpv, repo)
    parsed = split_cpv(cpv)
    flags = [flag + f"{parsed.category}/{parsed.package}" if flag.endswith("=") else flag for flag, _ in FLAGS]
    return [emerge, *flags, atom]


def emerge_environment(base: Mapping[str, str], config: EmergeConfig) -> dict[str, str]:
    """The drone's environment with the swarm's build settings laid over it (see :data:`ENVIRONMENT` for why each)."""
    env = {key: value for key, value in base.items() if key not in ("LC_ALL", "LANGUAGE")}
    if base.get("LC_ALL"):  # LC_ALL would override LC_MESSAGES: keep its locale for everything else, as LANG
        env["LANG"] = base["LC_ALL"]
    env.update({
        "MAKEOPTS": f"-j{config.make_jobs} -l{config.cores}",
        "FEATURES": " ".join(FEATURES),
        "BINPKG_FORMAT": "gpkg",
        "PKGDIR": config.pkgdir,
        "PORTAGE_BINHOST": config.binhost_url,
        "EMERGE_DEFAULT_OPTS": "",
        "NOCOLOR": "true",
        "CLEAN_DELAY": "0",
        "EMERGE_WARNING_DELAY": "0",
        "LC_MESSAGES": "C",
    })
    return env


def prefix_environment(base: Mapping[str, str], eprefix: str, config_root: str = "") -> dict[str, str]:
    """``base`` for portage in the prefix ``eprefix`` (see :data:`PREFIX_ENVIRONMENT`), building with ``config_root`` if given."""
    path = ":".join([f"{eprefix}/{PREFIX_TOOLS}", f"{eprefix}/usr/bin", base.get("PATH", "/usr/bin:/bin")])
    env = {**base, "PORTAGE_OVERRIDE_EPREFIX": eprefix, "PATH": path}
    if config_root:
        env["PORTAGE_CONFIGROOT"] = config_root
    return env


__all__ = ["ENVIRONMENT", "FEATURES", "FLAGS", "PREFIX_ENVIRONMENT", "PREFIX_TOOLS", "EmergeConfig", "emerge_argv", "emerge_environment",
           "prefix_environment", "target_atom"]
