"""A drone host as provisioning lays it out, and the POSIX shell that gets it there (run over SSH, or by hand from
``build-swarm bootstrap-script``). Pure: :mod:`swarm_celery.services.provision` runs these commands through a remote
shell and reads their answers back with :func:`parse_state`.

On the host::

    /opt/build-swarm/wheels/             the wheels pushed (build-swarm's, and its dependencies' in a complete wheelhouse)
    /opt/build-swarm/releases/V-DIGEST/  one venv per payload (version and digest), made whole before it is used
    /opt/build-swarm/venv -> releases/…  the release in use: switched in one rename, and back the same way
    /etc/build-swarm/drone.conf          the drone's settings and token (0600)

The units of deploy/ run ``/opt/build-swarm/venv/bin/build-swarm``: a new release takes effect at the service's restart,
and a failed one is undone by pointing ``venv`` back at the release before it.
"""

from __future__ import annotations

import re
import shlex
from collections.abc import Mapping
from dataclasses import dataclass, field

from swarm_celery.domain.fleet import DETECT_MANAGER
from swarm_celery.domain.payload import Payload

ROOT = "/opt/build-swarm"
VENV = f"{ROOT}/venv"
WHEELS = f"{ROOT}/wheels"
RELEASES = f"{ROOT}/releases"
CONF = "/etc/build-swarm/drone.conf"
HOME = "/var/lib/build-swarm"  # the drone's SWARM_HOME: its build logs, the builds it runs, staging
DIRECTORIES = f"install -d -m 0755 /etc/build-swarm && install -d -m 0750 {HOME}"
MIN_PYTHON = (3, 11)
_SECTION = re.compile(r"@@ (\w+)")
_CONF_LINE = re.compile(r"(SWARM_[A-Z0-9_]+)=(.*)")


# --- what is on the host now -------------------------------------------------------------------------------------

def state_command(unit_paths: tuple[str, ...]) -> str:
    """One command that prints, in ``@@`` sections: the service manager, python3's version, the release in use, the
    wheels there (sha256), drone.conf, and the sha256 of each unit file that exists."""
    units = " ".join(shlex.quote(p) for p in unit_paths)
    return "; ".join([
        "echo '@@ manager'", DETECT_MANAGER,
        "echo '@@ python'", "python3 -c 'import sys; print(*sys.version_info[:2])' 2>/dev/null",
        "echo '@@ release'", f"if [ -L {VENV} ]; then readlink {VENV}; elif [ -d {VENV} ]; then echo directory; fi",
        "echo '@@ wheels'", f"cd {WHEELS} 2>/dev/null && sha256sum -- *.whl 2>/dev/null; cd /",
        "echo '@@ conf'", f"cat {CONF} 2>/dev/null",
        "echo '@@ units'", f"for u in {units}; do [ -f \"$u\" ] && sha256sum \"$u\"; done" if units else ":",
        "echo '@@ end'",
    ])


@dataclass(frozen=True, slots=True)
class HostState:
    manager: str = "none"  # openrc | systemd | none
    python: tuple[int, ...] = ()  # python3's (major, minor); () when there is none
    release: str = ""  # the release ``venv`` points at ("directory": a venv made by hand; "": none)
    wheels: Mapping[str, str] = field(default_factory=dict)  # file name → sha256
    conf: Mapping[str, str] = field(default_factory=dict)  # drone.conf's settings
    units: Mapping[str, str] = field(default_factory=dict)  # unit path → sha256
    complete: bool = False  # the answer was whole

    @property
    def release_name(self) -> str:
        return self.release.rsplit("/", 1)[-1] if self.release not in ("", "directory") else ""


def parse_state(output: str) -> HostState:
    """Read :func:`state_command`'s answer; anything garbled is left out (and an answer without its end is not whole)."""
    sections: dict[str, list[str]] = {}
    current = ""
    for line in output.splitlines():
        found = _SECTION.fullmatch(line.strip())
        if found:
            current = found[1]
            sections.setdefault(current, [])
        elif current:
            sections[current].append(line)
    first = {name: (lines[0].strip() if lines else "") for name, lines in sections.items()}
    python = tuple(int(x) for x in first.get("python", "").split() if x.isdigit())
    return HostState(manager=first.get("manager", "none") if first.get("manager") in ("openrc", "systemd") else "none",
                     python=python, release=first.get("release", ""), wheels=_sums(sections.get("wheels", []), by_name=True),
                     conf=parse_conf("\n".join(sections.get("conf", []))), units=_sums(sections.get("units", [])),
                     complete="end" in sections)


def _sums(lines: list[str], by_name: bool = False) -> dict[str, str]:
    found = {}
    for line in lines:
        digest, _, path = line.strip().partition("  ")
        if re.fullmatch(r"[0-9a-f]{64}", digest) and path:
            found[path.rsplit("/", 1)[-1] if by_name else path] = digest
    return found


# --- drone.conf ----------------------------------------------------------------------------------------------------

def drone_conf_text(values: Mapping[str, str]) -> str:
    """drone.conf as provisioning writes it: a header, then ``SWARM_NAME='value'`` lines (what settings.read_conf reads:
    shell quoting, nothing expanded)."""
    lines = ["# /etc/build-swarm/drone.conf, written by `build-swarm drone provision` (mode 0600: the token is a secret).",
             "# Every setting: deploy/env/drone.conf.example. Provisioning again rewrites this file.",
             *(f"{key}={shlex.quote(value)}" for key, value in values.items())]
    return "\n".join(lines) + "\n"


def parse_conf(text: str) -> dict[str, str]:
    """The ``SWARM_*=value`` lines of a drone.conf (shell-quoted values); other lines are left out."""
    found = {}
    for line in text.splitlines():
        match = _CONF_LINE.fullmatch(line.strip().removeprefix("export "))
        if match:
            try:
                found[match[1]] = " ".join(shlex.split(match[2], comments=True))
            except ValueError:
                continue
    return found


# --- the release -----------------------------------------------------------------------------------------------------

def install_command(payload: Payload) -> str:
    """Make the payload's release venv unless it is whole already (a half-made one from a failed try is made again)."""
    release = shlex.quote(f"{RELEASES}/{payload.release}")
    index = "--no-index " if payload.complete else ""
    # --no-compile: a third of the time; each module is compiled once on first import (the drone runs as root)
    pip = (f"{release}/bin/pip install --quiet --disable-pip-version-check --no-compile {index}--find-links {WHEELS} "
           f"{WHEELS}/{shlex.quote(payload.wheel)}")
    return (f"set -e; if [ ! -f {release}/.complete ]; then rm -rf {release}; mkdir -p {RELEASES}; "
            f"python3 -m venv {release}; {pip}; touch {release}/.complete; fi")


def switch_command(release: str) -> str:
    """Point ``venv`` at ``release`` in one rename; a venv made by hand (drone-image/bootstrap.sh) is kept aside."""
    target = shlex.quote(f"releases/{release}")
    return (f"set -e; cd {ROOT}; test -f {target}/.complete; "
            "if [ -d venv ] && [ ! -L venv ]; then rm -rf venv.by-hand; mv venv venv.by-hand; fi; "
            f"ln -sfn {target} venv.new; mv -fT venv.new venv")


def restore_by_hand_command() -> str:
    """Put back the venv made by hand that :func:`switch_command` kept aside (a failed first release on such a host)."""
    return f"set -e; cd {ROOT}; test -d venv.by-hand; rm -f venv; mv venv.by-hand venv"


def prune_command(keep: tuple[str, ...]) -> str:
    """Remove every release but ``keep`` (the one in use and the one before it)."""
    names = "|".join(shlex.quote(k) for k in keep if k) or "''"
    return f"cd {RELEASES} 2>/dev/null && for r in *; do case $r in {names}) ;; *) rm -rf -- \"$r\" ;; esac; done; true"


# --- the service -------------------------------------------------------------------------------------------------------

@dataclass(frozen=True, slots=True)
class ServicePlan:
    """How the drone's worker runs under the host's service manager."""

    manager: str
    service: str  # what rc-service / systemctl calls it
    files: tuple[tuple[str, str, int], ...]  # (file of deploy/, where it goes, mode)
    enable: str
    restart: str
    ensure_running: str


def service_plan(manager: str, name: str) -> ServicePlan:
    if manager == "openrc":
        service = "build-swarm-drone"
        files: tuple[tuple[str, str, int], ...] = (("openrc/init.d/build-swarm-drone", "/etc/init.d/build-swarm-drone", 0o755),
                 ("openrc/conf.d/build-swarm-drone", "/etc/conf.d/build-swarm-drone", 0o644),
                 ("logrotate/build-swarm", "/etc/logrotate.d/build-swarm", 0o644))
        return ServicePlan(manager, service, files, f"rc-update add {service} default >/dev/null", f"rc-service {service} restart",
                           f"rc-service {service} status >/dev/null 2>&1 || rc-service {service} start")
    if manager == "systemd":
        service = shlex.quote(f"build-swarm-drone@{name}")
        files = (("systemd/build-swarm-drone@.service", "/etc/systemd/system/build-swarm-drone@.service", 0o644),)
        return ServicePlan(manager, f"build-swarm-drone@{name}", files, f"systemctl daemon-reload && systemctl enable --quiet {service}",
                           f"systemctl restart {service}", f"systemctl is-active --quiet {service} || systemctl start {service}")
    raise ValueError("neither OpenRC (rc-service) nor systemd (systemctl) runs on the host: install the drone's service by hand "
                     "(deploy/README.md)")


# --- the fleet inventory -------------------------------------------------------------------------------------------------

def inventory_table(name: str, values: Mapping[str, str | int]) -> str:
    """A ``[drones.NAME]`` table of fleet.toml."""
    lines = [f"[drones.{name}]"]
    for key, value in values.items():
        lines.append(f"{key} = {value}" if isinstance(value, int) else f"{key} = \"{_toml_escape(value)}\"")
    return "\n".join(lines) + "\n"


def _toml_escape(value: str) -> str:
    return value.replace("\\", "\\\\").replace('"', '\\"')


def with_table(text: str, name: str, table: str) -> str:
    """``text`` (a fleet.toml) with its ``[drones.NAME]`` table replaced by ``table``, or ``table`` appended."""
    lines = text.splitlines(keepends=True)
    start = next((i for i, line in enumerate(lines) if line.strip() in (f"[drones.{name}]", f'[drones."{name}"]')), None)
    if start is None:
        return text + ("" if text.endswith("\n") or not text else "\n") + ("\n" if text.strip() else "") + table
    end = next((i for i in range(start + 1, len(lines)) if lines[i].lstrip().startswith("[")), len(lines))
    while end > start + 1 and (not lines[end - 1].strip() or lines[end - 1].lstrip().startswith("#")):
        end -= 1  # the blank lines and comments before the next table stay with it
    return "".join(lines[:start]) + table + "".join(lines[end:])
