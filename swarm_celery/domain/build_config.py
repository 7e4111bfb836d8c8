"""The portage configuration a plan was resolved with, as a drone must build it: profile, repositories, make.conf, package.*.

The coordinator hands every real build the hash of its plan's :class:`BuildConfig` (``BuildRequest.config_hash``)
and serves the configuration itself by that hash; a prefix drone lays it out as the ``PORTAGE_CONFIGROOT`` of
the build, reads back what portage will read, and refuses the attempt when that does not hash the same
(``build-swarm: cannot reproduce the build configuration …``: an infrastructure failure, retried elsewhere).

A drone's own ``make.conf`` is appended after the plan's: it may say *where* and *how* the drone builds
(:data:`DRONE_VARIABLES`: directories, sandboxes, users, niceness), never *what* is built (USE, CFLAGS, keywords:
those come from the plan). Pure standard library.
"""

from __future__ import annotations

import hashlib
import json
import re
from dataclasses import dataclass

from swarm_celery.domain.names import CONFIG_HASH

# What a resolve reads from a portage configuration directory, in this order (the resolver and the drones alike).
CONFIG_FILE_NAMES = ("make.conf", "package.use", "package.accept_keywords", "package.mask", "package.unmask", "package.env",
                     "package.license")

# Variables a drone's own make.conf may set: where it builds and with what privileges, never what is built.
DRONE_VARIABLES = frozenset({
    "ACCEPT_LICENSE", "BINPKG_COMPRESS", "BINPKG_FORMAT", "CCACHE_DIR", "CCACHE_SIZE", "CLEAN_DELAY", "DISTDIR",
    "EMERGE_DEFAULT_OPTS", "EMERGE_WARNING_DELAY", "FEATURES", "FETCHCOMMAND", "GENTOO_MIRRORS", "LC_MESSAGES", "MAKEOPTS",
    "NOCOLOR", "PKGDIR", "PORTAGE_BINHOST", "PORTAGE_ELOG_CLASSES", "PORTAGE_ELOG_SYSTEM", "PORTAGE_GRPNAME",
    "PORTAGE_IONICE_COMMAND", "PORTAGE_LOGDIR", "PORTAGE_NICENESS", "PORTAGE_TMPDIR", "PORTAGE_TRUST_HELPER",
    "PORTAGE_USERNAME", "PORTAGE_WORKDIR_MODE", "RESUMECOMMAND",
})
DRONE_MARKER = "# ---- build-swarm: this drone's own settings (its make.conf), after the plan's ----"

MAX_CONFIG_BYTES = 1 << 20  # a configuration a drone accepts: make.conf and package.* of a real system are kilobytes
_NAME = re.compile(r"^[A-Za-z0-9_][A-Za-z0-9_-]{0,63}$")  # PMS repository names; arches
_PROFILE = re.compile(r"^[A-Za-z0-9_.+-]+(?:/[A-Za-z0-9_.+-]+)*$")
_ASSIGNMENT = re.compile(r"^[ \t]*(?:export[ \t]+)?([A-Za-z_][A-Za-z0-9_]*)=", re.MULTILINE)


@dataclass(frozen=True, slots=True)
class BuildConfig:
    """What portage builds with, as the plan was resolved: the profile (relative to the first repository's
    ``profiles/``), the repositories by name (the first is the main one), and the configuration files."""

    arch: str
    gentoo_profile: str
    repos: tuple[str, ...]
    files: tuple[tuple[str, str], ...]  # (name in CONFIG_FILE_NAMES, text), in that order

    def __post_init__(self) -> None:
        if not _NAME.match(self.arch):
            raise ValueError(f"not an arch: {self.arch[:40]!r}")
        if not _PROFILE.match(self.gentoo_profile) or ".." in self.gentoo_profile.split("/"):
            raise ValueError(f"not a profile path: {self.gentoo_profile[:80]!r}")
        if not self.repos or not all(_NAME.match(r) for r in self.repos) or len(set(self.repos)) != len(self.repos):
            raise ValueError(f"not a list of repository names: {list(self.repos)[:8]!r}")
        names = [name for name, _ in self.files]
        if any(n not in CONFIG_FILE_NAMES for n in names) or names != sorted(names, key=CONFIG_FILE_NAMES.index):
            raise ValueError(f"configuration files must be among {', '.join(CONFIG_FILE_NAMES)}, once each, in that order: {names[:8]}")
        if sum(len(text) for _, text in self.files) > MAX_CONFIG_BYTES:
            raise ValueError(f"the configuration files are larger than {MAX_CONFIG_BYTES} bytes")

    @property
    def main_repo(self) -> str:
        return self.repos[0]

    def file(self, name: str) -> str:
        return dict(self.files).get(name, "")

    def to_json(self) -> dict[str, object]:
        return {"arch": self.arch, "gentoo_profile": self.gentoo_profile, "repos": list(self.repos),
                "files": [[name, text] for name, text in self.files]}

    def digest(self) -> str:
        """The configuration hash a build request carries: the same configuration always gives the same hash."""
        blob = json.dumps(self.to_json(), sort_keys=True, separators=(",", ":")).encode()
        return hashlib.sha256(blob).hexdigest()[:24]

    @classmethod
    def from_json(cls, data: object) -> BuildConfig:
        """A configuration received from the coordinator; ValueError for anything malformed."""
        if not isinstance(data, dict):
            raise ValueError("a build configuration is a JSON object")
        repos, files = data.get("repos"), data.get("files")
        if not isinstance(repos, list) or not isinstance(files, list):
            raise ValueError("a build configuration has a list of repos and a list of files")
        pairs = tuple((str(f[0]), str(f[1])) for f in files if isinstance(f, list) and len(f) == 2)
        if len(pairs) != len(files):
            raise ValueError("each file of a build configuration is a [name, text] pair")
        return cls(str(data.get("arch", "")), str(data.get("gentoo_profile", "")), tuple(str(r) for r in repos), pairs)

    @classmethod
    def of(cls, arch: str, gentoo_profile: str, repos: tuple[str, ...], files: tuple[tuple[str, str], ...]) -> BuildConfig:
        """From a resolve's inputs: empty files are left out, the rest end with a newline, in the canonical order."""
        present = {name: text if text.endswith("\n") else text + "\n" for name, text in files if text.strip()}
        return cls(arch, gentoo_profile, repos, tuple((n, present[n]) for n in CONFIG_FILE_NAMES if n in present))


def check_config_hash(value: str) -> str:
    """A configuration hash from a message: lower-case hex, or ValueError."""
    if not CONFIG_HASH.fullmatch(value):
        raise ValueError(f"not a configuration hash: {value[:70]!r}")
    return value


def assigned(make_conf: str) -> list[str]:
    """The variables a make.conf text assigns, in order, each once."""
    return list(dict.fromkeys(_ASSIGNMENT.findall(make_conf)))


def foreign_variables(drone_make_conf: str) -> list[str]:
    """Variables of a drone's own make.conf that would change what is built (only :data:`DRONE_VARIABLES` may be set)."""
    return [name for name in assigned(drone_make_conf) if name not in DRONE_VARIABLES]


def layered_make_conf(plan: str, drone: str) -> str:
    """The make.conf a build reads: the plan's, then the drone's own after :data:`DRONE_MARKER`."""
    return f"{plan}\n{DRONE_MARKER}\n{drone}"


def plan_part(make_conf: str) -> str:
    """The plan's make.conf out of a :func:`layered_make_conf` text (what the drone hashes when it reads it back)."""
    head, marker, _ = make_conf.partition(f"\n{DRONE_MARKER}\n")
    return head if marker else make_conf


__all__ = ["CONFIG_FILE_NAMES", "DRONE_MARKER", "DRONE_VARIABLES", "BuildConfig", "assigned", "check_config_hash", "foreign_variables",
           "layered_make_conf", "plan_part"]
