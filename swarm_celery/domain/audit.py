"""The golden drone: its spec (``drone-image/spec.toml``) as data, and the audit that judges one host against it.

:func:`parse_spec` reads and validates the spec (a mistake is a ValueError of one line naming the key);
:func:`facts_argv` is the one command that gathers a host's facts (:mod:`swarm_celery.domain.audit_facts`, which also
reads its output back); :func:`judge` turns spec and facts into checks, PASS, WARN or FAIL each, and
:func:`exit_code` into 0, 1 or 2. Pure: a fleet adapter runs the command over SSH, a CLI prints the checks.
"""

from __future__ import annotations

import fnmatch
import re
import shlex
import tomllib
from collections.abc import Callable
from dataclasses import dataclass
from enum import StrEnum
from typing import Any

from swarm_celery.domain.audit_facts import FACTS_SCRIPT, DroneFacts
from swarm_celery.domain.cpv import split_cpv
from swarm_celery.domain.fleet import tree_seconds

# uname -m → Gentoo's ARCH
MACHINE_ARCH = {"x86_64": "amd64", "aarch64": "arm64", "i686": "x86", "i586": "x86", "armv7l": "arm", "armv6l": "arm",
                "ppc64le": "ppc64", "ppc64": "ppc64", "riscv64": "riscv", "loongarch64": "loong", "s390x": "s390",
                "sparc64": "sparc", "alpha": "alpha", "parisc64": "hppa", "m68k": "m68k", "mips64": "mips"}
ARCHES = frozenset(MACHINE_ARCH.values())


NO_LIMIT = 1_000_000


@dataclass(frozen=True, slots=True, kw_only=True)
class DroneSpec:
    """What every drone host must be. Lists default to "nothing required", limits to "no limit"."""

    profile: str  # make.profile's target relative to profiles/, e.g. default/linux/amd64/23.0
    arch: str  # Gentoo's ARCH
    tree: str = "/var/db/repos/gentoo"
    max_tree_age_hours: float = 48.0
    min_version: str = "0"  # of build-swarm in the drone's venv
    venv: str = "/opt/build-swarm/venv"
    world: tuple[str, ...] = ()  # atoms the world file must hold
    forbidden: tuple[str, ...] = ()  # fnmatch patterns on cat/pn and cat/pf that no installed package may match
    min_installed: int = 0
    max_installed: int = NO_LIMIT
    commands: tuple[str, ...] = ()  # on root's PATH
    directories: tuple[str, ...] = ()
    files: tuple[str, ...] = ()
    enabled: tuple[str, ...] = ()  # services (OpenRC or systemd; an instance NAME.x or NAME@x counts for NAME)
    running: tuple[str, ...] = ()
    features: tuple[str, ...] = ()  # in portage's effective FEATURES
    forbidden_features: tuple[str, ...] = ()


_PATH = re.compile(r"/(?:[A-Za-z0-9._+-]+/?)*")
_NAME = re.compile(r"[A-Za-z0-9][A-Za-z0-9._+@-]{0,127}")
_ATOM = re.compile(r"[<>=~]{0,2}[A-Za-z0-9+_.-]+/[A-Za-z0-9+_.*-]+(?::[A-Za-z0-9+_./*=-]+)?(?:::[A-Za-z0-9_-]+)?")
_PATTERN = re.compile(r"[A-Za-z0-9+_.*?\[\]!-]+/[A-Za-z0-9+_.*?\[\]!-]+")
_PROFILE = re.compile(r"[A-Za-z0-9._+-]+(?:/[A-Za-z0-9._+-]+)*")
_VERSION = re.compile(r"\d+(?:\.\d+)*")


def _one(rule: re.Pattern[str], what: str) -> Callable[[Any], str | None]:
    return lambda v: None if isinstance(v, str) and rule.fullmatch(v) and ".." not in v.split("/") else f"should be {what}"


def _many(rule: re.Pattern[str], what: str) -> Callable[[Any], str | None]:
    def check(v: Any) -> str | None:
        bad = next((x for x in v if not (isinstance(x, str) and rule.fullmatch(x))), None) if isinstance(v, list) else v
        return None if isinstance(v, list) and bad is None else f"should be a list of {what} (not {str(bad)[:40]!r})"
    return check


def _count(v: Any) -> str | None:
    return None if isinstance(v, int) and not isinstance(v, bool) and v >= 0 else "should be a whole number, 0 or more"


def _hours(v: Any) -> str | None:
    return None if isinstance(v, int | float) and not isinstance(v, bool) and v > 0 else "should be a number of hours above 0"


def _is_arch(v: Any) -> str | None:
    return None if v in ARCHES else f"should be one of {', '.join(sorted(ARCHES))}"


# table → key → (DroneSpec field, check of the value: None when right, else what it should be)
LAYOUT: dict[str, dict[str, tuple[str, Callable[[Any], str | None]]]] = {
    "system": {"profile": ("profile", _one(_PROFILE, "a profile path like default/linux/amd64/23.0")), "arch": ("arch", _is_arch),
               "tree": ("tree", _one(_PATH, "an absolute path")), "max_tree_age_hours": ("max_tree_age_hours", _hours)},
    "build_swarm": {"min_version": ("min_version", _one(_VERSION, "a version like 0.1.0")), "venv": ("venv", _one(_PATH, "an absolute path"))},
    "packages": {"world": ("world", _many(_ATOM, "atoms")), "forbidden": ("forbidden", _many(_PATTERN, "category/package patterns")),
                 "min_installed": ("min_installed", _count), "max_installed": ("max_installed", _count)},
    "commands": {"required": ("commands", _many(_NAME, "command names"))},
    "paths": {"directories": ("directories", _many(_PATH, "absolute paths")), "files": ("files", _many(_PATH, "absolute paths"))},
    "services": {"enabled": ("enabled", _many(_NAME, "service names")), "running": ("running", _many(_NAME, "service names"))},
    "make_conf": {"features": ("features", _many(_NAME, "FEATURES")), "forbidden_features": ("forbidden_features", _many(_NAME, "FEATURES"))},
}
REQUIRED = (("system", "profile"), ("system", "arch"))
SPEC_FORMAT = 1


def parse_spec(text: str, source: str = "spec.toml") -> DroneSpec:
    """The spec of a TOML text; ValueError with one line naming ``source`` and the key to fix."""
    try:
        data = tomllib.loads(text)
    except tomllib.TOMLDecodeError as exc:
        raise ValueError(f"{source}: not valid TOML: {exc}") from None
    if data.pop("format", None) != SPEC_FORMAT:
        raise ValueError(f"{source}: format = {SPEC_FORMAT} is missing at the top (the version of this file's layout)")
    values: dict[str, Any] = {}
    for table, entries in data.items():
        values |= _table(source, table, entries)
    for table, key in REQUIRED:
        if LAYOUT[table][key][0] not in values:
            raise ValueError(f"{source}: {table}.{key} is missing: add it to [{table}]")
    if values.get("min_installed", 0) > values.get("max_installed", NO_LIMIT):
        raise ValueError(f"{source}: packages.min_installed is above packages.max_installed")
    return DroneSpec(**values)


def _table(source: str, table: str, entries: object) -> dict[str, Any]:
    """The DroneSpec fields of one table, each value checked."""
    if table not in LAYOUT or not isinstance(entries, dict):
        raise ValueError(f"{source}: unknown table [{table}] (known: {', '.join(f'[{t}]' for t in LAYOUT)})")
    values: dict[str, Any] = {}
    for key, value in entries.items():
        if key not in LAYOUT[table]:
            raise ValueError(f"{source}: unknown key {table}.{key} (known in [{table}]: {', '.join(LAYOUT[table])})")
        name, check = LAYOUT[table][key]
        problem = check(value)
        if problem:
            raise ValueError(f"{source}: {table}.{key} = {str(value)[:60]!r} {problem}")
        values[name] = tuple(value) if isinstance(value, list) else float(value) if name == "max_tree_age_hours" else value
    return values


def facts_argv(spec: DroneSpec, root: str = "") -> list[str]:
    """The facts command as argv (``sh -c SCRIPT ...``); over SSH, :func:`facts_command`. ``root``: a directory laid out
    like a host, read instead of ``/`` (tests)."""
    paths = list(dict.fromkeys([*spec.directories, *spec.files]))
    return ["sh", "-c", FACTS_SCRIPT, "build-swarm-facts", root, spec.tree, spec.venv, str(len(spec.commands)), *spec.commands, *paths]


def facts_command(spec: DroneSpec) -> str:
    """The facts command as one shell command line (what the fleet's SSH adapter runs)."""
    return shlex.join(facts_argv(spec))


# --- judgement ------------------------------------------------------------------------------------------------------

class Status(StrEnum):
    PASS = "PASS"
    WARN = "WARN"
    FAIL = "FAIL"


@dataclass(frozen=True, slots=True)
class Check:
    name: str
    status: Status
    message: str

    def to_json(self) -> dict[str, str]:
        return {"check": self.name, "status": self.status.value, "message": self.message}


def judge(spec: DroneSpec, facts: DroneFacts) -> list[Check]:
    """Every check of ``facts`` against ``spec``; facts that are not whole give one FAIL and nothing else."""
    if not facts.complete:
        return [Check("facts", Status.FAIL, f"{facts.problems[0] if facts.problems else 'incomplete'}: run the audit again")]
    noted = Check("facts", Status.WARN, "; ".join(facts.problems)[:300]) if facts.problems else Check("facts", Status.PASS, "complete")
    return [noted, *(rule(spec, facts) for rule in RULES)]


def exit_code(checks: list[Check]) -> int:
    """0: all PASS; 1: a WARN and no FAIL; 2: a FAIL."""
    statuses = {check.status for check in checks}
    return 2 if Status.FAIL in statuses else 1 if Status.WARN in statuses else 0


def _listed(items: list[str] | tuple[str, ...], most: int = 8) -> str:
    return ", ".join(items[:most]) + (f" and {len(items) - most} more" if len(items) > most else "")


def _verdict(name: str, fails: list[str], warns: list[str], passed: str) -> Check:
    if fails:
        return Check(name, Status.FAIL, "; ".join(fails))
    return Check(name, Status.WARN, "; ".join(warns)) if warns else Check(name, Status.PASS, passed)


def _profile(spec: DroneSpec, facts: DroneFacts) -> Check:
    if facts.profile == spec.profile:
        return Check("profile", Status.PASS, spec.profile)
    found = f"is {facts.profile}" if facts.profile else "is not set (no /etc/portage/make.profile)"
    return Check("profile", Status.FAIL, f"{found}: should be {spec.profile} (eselect profile set {spec.profile})")


def _arch(spec: DroneSpec, facts: DroneFacts) -> Check:
    arch = MACHINE_ARCH.get(facts.machine, "")
    if arch == spec.arch:
        return Check("arch", Status.PASS, f"{arch} ({facts.machine})")
    return Check("arch", Status.FAIL, f"the machine is {facts.machine or 'unknown'} ({arch or 'no Gentoo arch'}): should be {spec.arch}")


def _tree(spec: DroneSpec, facts: DroneFacts) -> Check:
    synced = tree_seconds(facts.tree)
    if synced is None or facts.now is None:
        return Check("tree", Status.FAIL, f"no readable {spec.tree}/metadata/timestamp.chk: sync the tree (emerge --sync)")
    hours = (facts.now - synced) / 3600
    if hours < -1:
        return Check("tree", Status.WARN, f"synced {-hours:.1f} h in the future: is the host's clock right?")
    if hours > spec.max_tree_age_hours:
        return Check("tree", Status.FAIL, f"synced {hours:.1f} h ago, over {spec.max_tree_age_hours:g} h: sync it (emerge --sync)")
    return Check("tree", Status.PASS, f"synced {hours:.1f} h ago")


def _numbers(version: str) -> tuple[int, ...]:
    match = _VERSION.match(version)
    return tuple(int(x) for x in match[0].split(".")) if match else ()


def _version(spec: DroneSpec, facts: DroneFacts) -> Check:
    found, wanted = _numbers(facts.version), _numbers(spec.min_version)
    if not found:
        return Check("build-swarm", Status.FAIL, f"not installed in {spec.venv} (or unreadable): see drone-image/bootstrap.sh")
    width = max(len(found), len(wanted))
    if found + (0,) * (width - len(found)) < wanted + (0,) * (width - len(wanted)):
        return Check("build-swarm", Status.FAIL, f"{facts.version} is older than {spec.min_version}: upgrade the venv {spec.venv}")
    return Check("build-swarm", Status.PASS, facts.version)


def _features(spec: DroneSpec, facts: DroneFacts) -> Check:
    if facts.features is None:
        return Check("features", Status.WARN, "portageq is missing: FEATURES cannot be read")
    missing = [f for f in spec.features if f not in facts.features]
    present = [f for f in spec.forbidden_features if f in facts.features]
    fails = ([f"missing {_listed(missing)} (add to FEATURES in make.conf)"] if missing else []) + \
            ([f"{_listed(present)} must be off (-{present[0]} in make.conf)"] if present else [])
    return _verdict("features", fails, [], "all required on, none forbidden")


def _world(spec: DroneSpec, facts: DroneFacts) -> Check:
    missing = [atom for atom in spec.world if atom not in facts.world]
    extra = [atom for atom in facts.world if atom not in spec.world]
    return _verdict("world", [f"missing {_listed(missing)} (emerge --noreplace them)"] if missing else [],
                    [f"not in the spec: {_listed(extra)}"] if extra else [], f"{len(spec.world)} atoms")


def _forbidden(spec: DroneSpec, facts: DroneFacts) -> Check:
    found = []
    for cpf in facts.installed:
        try:
            cpv = split_cpv(cpf)
            names: tuple[str, ...] = (f"{cpv.category}/{cpv.package}", cpf)
        except ValueError:
            names = (cpf,)
        if any(fnmatch.fnmatchcase(name, pattern) for pattern in spec.forbidden for name in names):
            found.append(cpf)
    return _verdict("forbidden", [f"installed: {_listed(found)} (emerge --depclean them)"] if found else [], [], "none installed")


def _installed(spec: DroneSpec, facts: DroneFacts) -> Check:
    count = len(facts.installed)
    if spec.min_installed <= count <= spec.max_installed:
        return Check("installed", Status.PASS, f"{count} packages")
    return Check("installed", Status.FAIL, f"{count} packages: should be {spec.min_installed} to {spec.max_installed}")


def _commands(spec: DroneSpec, facts: DroneFacts) -> Check:
    missing = [c for c in spec.commands if not facts.commands.get(c)]
    return _verdict("commands", [f"not on PATH: {_listed(missing)}"] if missing else [], [], f"{len(spec.commands)} found")


def _paths(spec: DroneSpec, facts: DroneFacts) -> Check:
    wrong = [f"{p} is {facts.paths.get(p, 'unknown')}, should be a {kind}"
             for kind, paths in (("directory", spec.directories), ("file", spec.files)) for p in paths if facts.paths.get(p) != kind]
    return _verdict("paths", wrong[:6], [], f"{len(spec.directories)} directories, {len(spec.files)} files")


def _service_names(names: frozenset[str]) -> set[str]:
    """Each service and what it is an instance of: sshd.service → sshd; build-swarm-drone@a.service, build-swarm-drone.a
    → build-swarm-drone."""
    found = set()
    for name in names:
        bare = name.removesuffix(".service")
        found |= {bare, bare.split("@")[0], bare.split(".")[0]}
    return found


def _services(what: str, wanted: tuple[str, ...], found: frozenset[str], manager: str) -> Check:
    if wanted and manager == "none":
        return Check(what, Status.WARN, "neither OpenRC nor systemd runs here: cannot tell")
    missing = [s for s in wanted if s not in _service_names(found)]
    fix = HOW[manager, what].replace("NAME", missing[0]) if missing else ""
    return _verdict(what, [f"not {what}: {_listed(missing)} ({fix})"] if missing else [], [], f"{len(wanted)} services")


HOW = {("openrc", "enabled"): "rc-update add NAME default", ("openrc", "running"): "rc-service NAME start",
       ("systemd", "enabled"): "systemctl enable NAME", ("systemd", "running"): "systemctl start NAME"}


def _enabled(spec: DroneSpec, facts: DroneFacts) -> Check:
    return _services("enabled", spec.enabled, facts.enabled, facts.manager)


def _running(spec: DroneSpec, facts: DroneFacts) -> Check:
    return _services("running", spec.running, facts.running, facts.manager)


RULES: tuple[Callable[[DroneSpec, DroneFacts], Check], ...] = (
    _profile, _arch, _tree, _version, _features, _world, _forbidden, _installed, _commands, _paths, _enabled, _running)

