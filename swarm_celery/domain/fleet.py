"""The fleet inventory and the probe: what the coordinator knows of each drone host, the shell it runs there
over SSH, how it reads the answer, and what it concludes (a stale tree, a stuck emerge, low disk).

Pure: the Fabric adapter (:mod:`swarm_celery.fleet.ssh`) runs the commands built here; the service
(:mod:`swarm_celery.services.fleet`) hands the output back to :func:`parse_probe` and :func:`judge`.
"""

from __future__ import annotations

import email.utils
import re
import shlex
import tomllib
from collections.abc import Mapping
from dataclasses import dataclass, fields
from pathlib import PurePosixPath

from swarm_celery.domain.names import check_drone_name

DRONE_TYPES = ("bare-metal", "lxc", "qemu")
MANAGERS = ("openrc", "systemd")


@dataclass(frozen=True, slots=True, kw_only=True)
class DroneHost:
    """One drone host of the inventory (``SWARM_FLEET_FILE``): how to reach it and what runs where on it."""

    name: str
    host: str
    port: int = 22
    user: str = "root"
    key_file: str = ""  # the private key; "" = none (no agent and no ~/.ssh keys either: only what is named here)
    known_hosts: str = ""  # the known_hosts file its host key must be in ("" = ~/.ssh/known_hosts)
    accept_unknown_host: bool = False  # explicit opt-out of host key checking (a lab, a loopback test)
    type: str = "bare-metal"  # bare-metal | lxc | qemu: only guests are ever rebooted
    service: str = "build-swarm-drone"  # the OpenRC or systemd service that runs its worker
    build_dir: str = "/var/tmp/portage"  # PORTAGE_TMPDIR: free disk is checked here ...
    pkgdir: str = "/var/cache/binpkgs"  # ... and here
    tree: str = "/var/db/repos/gentoo"  # its portage tree: metadata/timestamp.chk is compared with the coordinator's
    pidfile: str = "/run/build-swarm-drone.pid"  # hard restart: the process group of this pid is killed ...
    start: str = ""  # ... and this starts it again ("" = the service manager's start)
    reboot: str = "reboot"  # the command that reboots a guest
    sync: str = "emerge --sync"  # run (detached) when its tree is stale; "" = only hold it, a human syncs
    sync_log: str = "/var/log/build-swarm-sync.log"  # that run's output, read back by the next probe

    @property
    def rebootable(self) -> bool:
        return self.type in ("lxc", "qemu")


_KEYS = tuple(f.name for f in fields(DroneHost))
_INT_KEYS = {"port"}
_BOOL_KEYS = {"accept_unknown_host"}
_KIND = {int: "a number", bool: "true or false", str: "a quoted string"}


def parse_inventory(text: str, source: str) -> dict[str, DroneHost]:
    """``[drones.NAME]`` tables (with an optional ``[defaults]`` table every host inherits) → drone hosts by name.

    A malformed file or entry is a ValueError naming ``source``, the line or the drone and the key to fix.
    """
    return parse_hosts(text, source)[0]


def parse_hosts(text: str, source: str) -> tuple[dict[str, DroneHost], dict[str, DroneHost]]:
    """The drones and the other machines (``[machines.NAME]``: hosts a user-mode build profile reads its world
    and /etc/portage from over SSH; never probed or healed) of an inventory."""
    try:
        data = tomllib.loads(text)
    except tomllib.TOMLDecodeError as exc:
        raise ValueError(f"{source}: not valid TOML: {exc}") from None
    unknown = sorted(set(data) - {"defaults", "drones", "machines"})
    if unknown:
        raise ValueError(f"{source}: unknown table {unknown[0]!r}: the file has [defaults], [drones.NAME] and "
                         "[machines.NAME] tables")
    defaults, drones, machines = data.get("defaults", {}), data.get("drones", {}), data.get("machines", {})
    if not isinstance(defaults, dict) or not isinstance(drones, dict) or not isinstance(machines, dict):
        raise ValueError(f"{source}: [defaults], [drones] and [machines] must be tables")
    if not drones and not machines and "defaults" not in data:  # [defaults] alone: a fleet `drone provision` fills
        raise ValueError(f"{source}: no drones: add a [drones.NAME] table with at least host = \"...\", or a [defaults] table "
                         "for `build-swarm drone provision` to add drones to")
    both = sorted(set(drones) & set(machines))
    if both:
        raise ValueError(f"{source}: {both[0]!r} is both a drone and a machine: a drone is a machine too, keep only "
                         f"[drones.{both[0]}]")
    _check_keys(defaults, f"{source}: [defaults]")
    return ({name: _host(name, defaults, entry, source, "drones") for name, entry in drones.items()},
            {name: _host(name, defaults, entry, source, "machines") for name, entry in machines.items()})


HOST = re.compile(r"[A-Za-z0-9](?:[A-Za-z0-9.-]{0,251}[A-Za-z0-9])?|[0-9A-Fa-f:.]{2,45}")  # a DNS name, IPv4 or IPv6 (no user@, :port)


def host_from(name: str, defaults: Mapping[str, object], entry: Mapping[str, object], source: str) -> DroneHost:
    """Drone ``name`` of an inventory whose [defaults] are ``defaults``, with ``entry`` as its own table (checked alike)."""
    return _host(name, defaults, dict(entry), source, "drones")


def _host(name: str, defaults: Mapping[str, object], entry: object, source: str, table: str) -> DroneHost:
    where = f"{source}: {table[:-1]} {name!r}"
    try:
        check_drone_name(name)
    except ValueError as exc:
        raise ValueError(f"{where}: {exc}") from None
    if not isinstance(entry, dict):
        raise ValueError(f"{where}: expected a table [{table}.{name}] with host = \"...\"")
    _check_keys(entry, where)
    values = {**defaults, **entry}
    for key, value in values.items():
        wanted = int if key in _INT_KEYS else bool if key in _BOOL_KEYS else str
        if not isinstance(value, wanted) or (wanted is int and isinstance(value, bool)):
            raise ValueError(f"{where}: {key} = {value!r} should be {_KIND[wanted]}")
    _check_values(values, where)
    return DroneHost(name=name, **values)


def _check_values(values: Mapping[str, object], where: str) -> None:
    if not values.get("host"):
        raise ValueError(f"{where}: no host: add host = \"name or address\"")
    if not HOST.fullmatch(str(values["host"])):
        raise ValueError(f"{where}: host = {str(values['host'])[:80]!r} is not a host name or an address: the user goes in "
                         "user = \"...\" and the port in port = N")
    if values.get("type", "bare-metal") not in DRONE_TYPES:
        raise ValueError(f"{where}: type = {values['type']!r} is not one of {', '.join(DRONE_TYPES)}")
    port = values.get("port", 22)
    if not isinstance(port, int) or not 0 < port < 65536:
        raise ValueError(f"{where}: port = {port!r} is not a TCP port (1-65535)")
    for key in ("build_dir", "pkgdir", "tree", "pidfile", "sync_log"):
        if key in values and not str(values[key]).startswith("/"):
            raise ValueError(f"{where}: {key} = {values[key]!r} should be an absolute path")


def _check_keys(table: Mapping[str, object], where: str) -> None:
    for key in table:
        if key == "name" or key not in _KEYS:
            known = ", ".join(k for k in _KEYS if k != "name")
            raise ValueError(f"{where}: unknown key {key!r} (known: {known})")


# --- the probe ------------------------------------------------------------------------------------------------------

DETECT_MANAGER = ("if command -v rc-service >/dev/null 2>&1; then echo openrc; "
                  "elif command -v systemctl >/dev/null 2>&1; then echo systemd; else echo none; fi")


def probe_command(host: DroneHost) -> str:
    """One POSIX shell script printing ``key=value`` lines and one ``proc=PID SECONDS ARGS`` line per process."""
    q = shlex.quote
    tree_chk = q(str(PurePosixPath(host.tree) / "metadata" / "timestamp.chk"))
    return "; ".join([
        "echo load=$(cut -d' ' -f1-3 /proc/loadavg)",
        "echo mem_total_kb=$(awk '/^MemTotal:/{print $2}' /proc/meminfo)",
        "echo mem_avail_kb=$(awk '/^MemAvailable:/{print $2}' /proc/meminfo)",
        f"echo build_free_kb=$(df -Pk {q(host.build_dir)} 2>/dev/null | awk 'NR==2{{print $4}}')",
        f"echo pkgdir_free_kb=$(df -Pk {q(host.pkgdir)} 2>/dev/null | awk 'NR==2{{print $4}}')",
        f"echo tree=$(head -n1 {tree_chk} 2>/dev/null)",
        f"echo manager=$({DETECT_MANAGER})",
        f"tail -n {SYNC_TAIL} {q(host.sync_log)} 2>/dev/null | sed 's/^/sync=/'",
        "ps -eo pid=,etimes=,args= | sed 's/^ */proc=/'",
    ])


SYNC_MARK = "build-swarm sync"  # the lines a detached sync writes around its command's output
SYNC_TAIL = 4  # lines of the sync log each probe reads back


def sync_command(host: DroneHost) -> str:
    """Start the host's ``sync`` detached (it outlives the SSH session; this returns at once), its output in
    ``sync_log`` between a start and an exit line: the next probes read how it went."""
    log = shlex.quote(host.sync_log)
    script = f'echo "{SYNC_MARK} started $(date +%s)"; {host.sync}; echo "{SYNC_MARK} exit $?"'
    return (f'mkdir -p "$(dirname {log})" && '
            f"nohup sh -c {shlex.quote(script)} > {log} 2>&1 < /dev/null &")


@dataclass(frozen=True, slots=True)
class SyncRun:
    """The last detached sync, as its log's tail shows it."""

    running: bool
    exit: int | None  # None while running
    last: str  # the last line of the command's own output ("" when it printed none)

    @property
    def label(self) -> str:
        """In a word or two, for the fleet table and its JSON: "running" or "exit N"."""
        return "running" if self.running else f"exit {self.exit}"


def sync_run(lines: tuple[str, ...]) -> SyncRun | None:
    """What the tail of a sync log says (None: no log, so no sync was started there)."""
    if not lines:
        return None
    end = lines[-1].strip()
    output = [line.strip() for line in lines if line.strip() and not line.startswith(SYNC_MARK)]
    last = output[-1][:300] if output else ""
    if end.startswith(f"{SYNC_MARK} exit "):
        code = end.removeprefix(f"{SYNC_MARK} exit ")
        return SyncRun(False, int(code) if code.isdigit() else -1, last)
    return SyncRun(True, None, last)


def sync_due(asked_at: float, now: float, retry: float, run: SyncRun | None) -> bool:
    """Ask a drone with a stale tree to sync now? Yes the first time; again ``retry`` seconds after a sync that
    ended and left the tree stale; a sync still running is left alone for 4 × ``retry`` (then: killed, ask again)."""
    if not asked_at:
        return True
    waited = now - asked_at
    return waited >= (4 * retry if run is not None and run.running else retry)


def service_command(manager: str, service: str, action: str) -> str:
    """``rc-service SERVICE ACTION`` (OpenRC) or ``systemctl ACTION SERVICE`` (systemd)."""
    if manager == "openrc":
        return f"rc-service {shlex.quote(service)} {action}"
    return f"systemctl {action} {shlex.quote(service)}"


def hard_restart_command(host: DroneHost, manager: str) -> str:
    """Kill the process group of the worker's pid file (never group 0 or 1), then start it again."""
    pidfile = shlex.quote(host.pidfile)
    start = host.start or (f"rc-service {shlex.quote(host.service)} zap; {service_command(manager, host.service, 'start')}"
                           if manager == "openrc" else service_command(manager, host.service, "restart"))
    return (f"pid=$(cat {pidfile} 2>/dev/null); "
            'pgid=$(ps -o pgid= -p "${pid:-0}" 2>/dev/null | tr -d " "); '
            'if [ -n "$pgid" ] && [ "$pgid" -gt 1 ]; then kill -KILL -- "-$pgid"; fi; '
            f"{start}")


@dataclass(frozen=True, slots=True)
class StuckBuild:
    pid: int
    seconds: float
    args: str


@dataclass(frozen=True, slots=True, kw_only=True)
class HostProbe:
    """What one SSH probe found on a drone host (None: the host did not say)."""

    load: tuple[float, float, float] | None = None
    mem_total_mb: int | None = None
    mem_avail_mb: int | None = None
    build_free_mb: int | None = None
    pkgdir_free_mb: int | None = None
    tree: str = ""  # the first line of metadata/timestamp.chk
    manager: str = "none"  # openrc | systemd | none
    emerges: tuple[StuckBuild, ...] = ()  # every running emerge, with its age
    sync: SyncRun | None = None  # the last tree sync started there, read from its log's tail (None: never one)


def parse_probe(output: str) -> HostProbe:
    """Read :func:`probe_command`'s output; a missing or garbled value is None, never an error."""
    values: dict[str, str] = {}
    emerges: list[StuckBuild] = []
    sync: list[str] = []
    for line in output.splitlines():
        key, _, value = line.partition("=")
        if key == "proc":
            found = _emerge(value)
            if found is not None:
                emerges.append(found)
        elif key == "sync":
            sync.append(value[:500])
        elif key:
            values[key] = value.strip()
    load = [_float(x) for x in values.get("load", "").split()]
    return HostProbe(
        load=(load[0], load[1], load[2]) if len(load) == 3 and None not in load else None,  # type: ignore[arg-type]
        mem_total_mb=_mb(values.get("mem_total_kb")), mem_avail_mb=_mb(values.get("mem_avail_kb")),
        build_free_mb=_mb(values.get("build_free_kb")), pkgdir_free_mb=_mb(values.get("pkgdir_free_kb")),
        tree=values.get("tree", "")[:64], manager=values.get("manager", "none") if values.get("manager") in MANAGERS else "none",
        emerges=tuple(emerges), sync=sync_run(tuple(sync[-SYNC_TAIL:])),
    )


def _emerge(line: str) -> StuckBuild | None:
    """A ``ps`` line (pid, seconds, args) when the process is emerge: ``emerge ...`` or ``python .../emerge ...``."""
    parts = line.split(None, 2)
    if len(parts) < 3 or not parts[0].isdigit() or not parts[1].isdigit():
        return None
    words = parts[2].split()
    if not any(PurePosixPath(w).name == "emerge" for w in words[:2]):
        return None
    return StuckBuild(int(parts[0]), float(parts[1]), parts[2][:200])


def _float(text: str) -> float | None:
    try:
        return float(text)
    except ValueError:
        return None


def _mb(kb: str | None) -> int | None:
    return int(kb) // 1024 if kb and kb.isdigit() else None


def tree_seconds(timestamp: str) -> float | None:
    """``metadata/timestamp.chk``'s date ("Fri, 27 Nov 2026 00:45:01 +0000") as a Unix time; None when unreadable."""
    if not timestamp.strip():
        return None
    try:
        return email.utils.parsedate_to_datetime(timestamp.strip()).timestamp()
    except (TypeError, ValueError, IndexError):
        return None


# --- judgement ------------------------------------------------------------------------------------------------------

@dataclass(frozen=True, slots=True)
class ProbeLimits:
    stuck_after: float = 10 * 3600.0  # an emerge running longer than the longest expected build is stuck
    min_free_mb: int = 4096  # less free disk than this on the build dir or PKGDIR is low
    tree_slack: float = 3600.0  # a drone's tree this much older than the coordinator's is stale


@dataclass(frozen=True, slots=True)
class Finding:
    kind: str  # tree.stale | tree.sync_failed | emerge.stuck | disk.low
    message: str


def judge(host: DroneHost, probe: HostProbe, coordinator_tree: str, limits: ProbeLimits) -> tuple[Finding, ...]:
    """What needs attention on drone ``host``, given what the probe found and the coordinator's tree timestamp."""
    name = host.name
    found = [stale] if (stale := tree_staleness(host, probe.tree, coordinator_tree, limits.tree_slack)) else []
    run = probe.sync
    if stale and run is not None and run.exit:
        found.append(Finding("tree.sync_failed", f"{name}: `{host.sync}` exited {run.exit}"
                                                 f"{': ' + run.last if run.last else ''} (log: {host.sync_log}); "
                                                 "fix it there, or sync the tree by hand"))
    stuck = [e for e in probe.emerges if e.seconds > limits.stuck_after]
    if stuck:
        pids = ", ".join(f"{e.pid} ({e.seconds / 3600:.1f} h)" for e in stuck)
        found.append(Finding("emerge.stuck", f"{name}: emerge running longer than {limits.stuck_after:.0f} s: pid {pids}"))
    for what, free in (("build dir", probe.build_free_mb), ("PKGDIR", probe.pkgdir_free_mb)):
        if free is not None and free < limits.min_free_mb:
            found.append(Finding("disk.low", f"{name}: {free} MiB free on its {what} (below {limits.min_free_mb} MiB)"))
    return tuple(found)


def tree_staleness(host: DroneHost, drone_tree: str, coordinator_tree: str, slack: float) -> Finding | None:
    """A stale-tree finding (with what happens next) when the drone's tree is older than the coordinator's by over ``slack``."""
    ours = tree_seconds(coordinator_tree)
    if ours is None:
        return None  # the coordinator has no tree to compare with
    theirs = tree_seconds(drone_tree)
    name = host.name
    fix = (f"it is told to run `{host.sync}`" if host.sync else f"run `emerge --sync` on {name}") + \
        " (it gets no work until its tree is synced)"
    if theirs is None:
        return Finding("tree.stale", f"{name}: no readable metadata/timestamp.chk in its tree: {fix}")
    if ours - theirs > slack:
        return Finding("tree.stale", f"{name}: tree {drone_tree} is {(ours - theirs) / 3600:.1f} h older than the "
                                     f"coordinator's ({coordinator_tree}): {fix}")
    return None


@dataclass(frozen=True, slots=True, kw_only=True)
class DroneCheck:
    """One drone's result of one probe round: a row of its health history."""

    name: str
    at: float
    answered: bool | None  # Celery ping (None: not asked, no broker)
    reachable: bool | None  # SSH (None: not in the inventory)
    error: str = ""  # why SSH failed
    probe: HostProbe | None = None
    findings: tuple[Finding, ...] = ()
    level: int = 0  # its place on the healing ladder after this round
    actions: tuple[str, ...] = ()  # what the doctor did this round: a tree sync, a ladder step (event messages)

    def to_json(self) -> dict[str, object]:
        p = self.probe or HostProbe()
        return {"drone": self.name, "at": self.at, "answered": self.answered, "reachable": self.reachable, "error": self.error,
                "load": list(p.load) if p.load else None, "mem_total_mb": p.mem_total_mb, "mem_avail_mb": p.mem_avail_mb,
                "build_free_mb": p.build_free_mb, "pkgdir_free_mb": p.pkgdir_free_mb, "tree": p.tree, "manager": p.manager,
                "emerges": len(p.emerges), "sync": p.sync.label if p.sync else "", "findings": [{"kind": f.kind, "message": f.message} for f in self.findings],
                "level": self.level, "actions": list(self.actions)}
