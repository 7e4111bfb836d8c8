"""Drones, flags, health, profiles and snapshots in memory: the SqlStore's fleet, health and profile repositories."""

from __future__ import annotations

import json
from collections.abc import Sequence
from typing import Any

from swarm_celery.domain.disk_budget import build_key
from swarm_celery.domain.fleet import DroneCheck
from swarm_celery.domain.healing import DroneHealth, Ladder, Level
from swarm_celery.domain.identity import package_key
from swarm_celery.domain.model import DroneIdentity, Outcome, PackageState, Plan, PlannedPackage, SessionState
from swarm_celery.domain.profiles import BuildProfile
from swarm_celery.domain.records import DroneLoad
from swarm_celery.domain.snapshots import Snapshot
from swarm_celery.store.memory.dispatch import IN_FLIGHT
from swarm_celery.store.memory.rows import Drone, Health, Profile
from swarm_celery.store.memory.sessions import MemoryBase


class FleetMixin(MemoryBase):
    def register_drone(self, identity: DroneIdentity) -> None:
        now = self.clock.now()
        row = self.t.drones.get(identity.name)
        what = f"{identity.name} ({identity.arch}): {identity.cores} cores, {identity.memory_mb} MiB, " \
               f"{identity.disk_free_mb} MiB free disk, {identity.slots} slots"
        if row is None:
            row = self.t.drones[identity.name] = Drone(identity.name, identity.arch, now, now)
            self.add_event("drone.joined", what, None, identity.name)
        elif (row.slots, row.cores, row.arch) != (identity.slots, identity.cores, identity.arch):
            self.add_event("drone.changed", what, None, identity.name)
        row.arch, row.state, row.last_seen = identity.arch, "online", now
        row.cores, row.memory_mb, row.disk_free_mb, row.slots = identity.cores, identity.memory_mb, identity.disk_free_mb, identity.slots
        if (row.tree_timestamp, row.gentoo_profile) != (identity.tree_timestamp, identity.gentoo_profile) and row.tree_timestamp:
            self.add_event("drone.tree", f"{identity.name}: tree {identity.tree_timestamp or '?'}, profile {identity.gentoo_profile or '?'} "
                           f"(was {row.tree_timestamp}, {row.gentoo_profile or '?'})", None, identity.name)
        row.tree_timestamp, row.gentoo_profile = identity.tree_timestamp, identity.gentoo_profile
        row.payload_version, row.builder, row.payload_hash = identity.payload_version, identity.builder, identity.payload_hash
        if identity.paused and not row.paused:
            row.paused = True
            self.add_event("drone.paused", f"{identity.name} started paused (its settings)", None, identity.name)

    def touch_drone(self, name: str, arch: str) -> None:
        row = self.t.drones.get(name)
        if row is not None and row.arch == arch:
            row.last_seen, row.state = self.clock.now(), "online"

    def drone_offline(self, name: str, why: str) -> None:
        row = self.t.drones.get(name)
        if row is not None and row.state != "offline":
            row.state = "offline"
            self.add_event("drone.offline", f"{name}: {why}", None, name)

    def drone_loads(self, arch: str) -> list[DroneLoad]:
        drones = [d for d in self.t.drones.values() if d.arch == arch and d.state != "offline"]
        running: dict[str, list[tuple[float, float]]] = {}
        for a in self.t.attempts.values():
            if a.state in IN_FLIGHT and a.drone:
                running.setdefault(a.drone, []).append((a.started_at or a.dispatched_at, a.expected))
        holds = {name: h.tree_hold for name, h in self.t.health.items() if h.tree_hold}
        return [DroneLoad(d.name, d.arch, d.slots, d.paused, d.grounded_until, d.last_seen, tuple(running.get(d.name, ())),
                          holds.get(d.name, ""), d.builder) for d in drones]

    def set_drone_paused(self, name: str, paused: bool) -> bool:
        return self._set_drone(name, "paused", paused, "drone.paused" if paused else "drone.resumed", name)

    def set_grounded(self, name: str, until: float, reason: str) -> bool:
        return self._set_drone(name, "grounded_until", until, "drone.grounded" if until else "drone.ungrounded", f"{name}: {reason}")

    def _set_drone(self, name: str, column: str, value: object, event: str, message: str) -> bool:
        row = self.t.drones.get(name)
        if row is None:
            return False
        if getattr(row, column) != value:
            setattr(row, column, value)
            self.add_event(event, message, None, name)
        return True

    def expired_groundings(self, now: float) -> list[tuple[str, str]]:
        return sorted((d.name, d.arch) for d in self.t.drones.values() if 0 < d.grounded_until <= now)

    def grounded_until(self, name: str) -> float:
        row = self.t.drones.get(name)
        return row.grounded_until if row else 0.0

    def drone_arch(self, name: str) -> str:
        row = self.t.drones.get(name)
        return row.arch if row else ""

    def infrastructure_failures(self, name: str, since: float) -> int:
        return sum(1 for a in self.t.attempts.values() if a.drone == name and a.outcome == Outcome.FAILED.value and a.infrastructure
                   and a.counted and (a.finished_at or 0.0) >= since)

    def arches(self) -> list[str]:
        running = {s.arch for s in self.t.sessions.values() if s.state == SessionState.RUNNING.value}
        return sorted({d.arch for d in self.t.drones.values()} | running)

    def get_flag(self, name: str) -> str:
        return self.t.flags.get(name, "")

    def set_flag(self, name: str, value: str) -> bool:
        if self.t.flags.get(name, "") == value:
            return False
        self.t.flags[name] = value
        return True


class HealthMixin(MemoryBase):
    def known_drones(self) -> list[str]:
        return sorted(self.t.drones)

    def record_check(self, check: DroneCheck) -> None:
        self.t.probes.append(check)

    def health(self, name: str) -> DroneHealth:
        row = self.t.health.get(name)
        if row is None:
            return DroneHealth()
        return DroneHealth(Ladder(Level(row.level), row.acted_at, row.silent_since), row.error,
                           frozenset(k for k in row.findings.split(",") if k), row.sync_asked_at)

    def save_health(self, name: str, health: DroneHealth) -> None:
        row = self.t.health.setdefault(name, Health())
        row.level, row.acted_at, row.silent_since = int(health.ladder.level), health.ladder.acted_at, health.ladder.silent_since
        row.error, row.findings, row.sync_asked_at = health.error[:2000], ",".join(sorted(health.findings)), health.sync_asked_at

    def set_tree_hold(self, name: str, reason: str) -> bool:
        row = self.t.health.setdefault(name, Health())
        if row.tree_hold == reason:
            return False
        if reason:
            self.add_event("drone.tree_stale", reason, None, name)
        else:
            self.add_event("drone.tree_synced", f"{name}: its tree is current again; it takes work", None, name)
        row.tree_hold = reason
        return True

    def tree_holds(self) -> dict[str, str]:
        return {name: h.tree_hold for name, h in self.t.health.items() if h.tree_hold}


class ProfileMixin(MemoryBase):
    def save_profile(self, profile: BuildProfile, create: bool) -> bool:
        now = self.clock.now()
        row = self.t.profiles.get(profile.name)
        if (row is None) != create:
            return False
        self.t.profiles[profile.name] = Profile(json.dumps(profile.to_json(), sort_keys=True), profile.auto_rebuild,
                                                row.created_at if row else now, now)
        self.add_event("profile.created" if create else "profile.changed", f"{profile.name}: {profile.mode.value}, {profile.arch}, "
                       f"{profile.gentoo_profile}" + (", auto-rebuild" if profile.auto_rebuild else ""), None, profile.name)
        return True

    def get_profile(self, name: str) -> BuildProfile | None:
        row = self.t.profiles.get(name)
        return BuildProfile.from_json(_object(row.body)) if row else None

    def list_profiles(self, auto_rebuild_only: bool = False) -> list[BuildProfile]:
        return [BuildProfile.from_json(_object(row.body)) for _, row in sorted(self.t.profiles.items())
                if row.auto_rebuild or not auto_rebuild_only]

    def delete_profile(self, name: str) -> bool:
        if self.t.profiles.pop(name, None) is None:
            return False
        self.add_event("profile.deleted", f"{name} deleted; its sessions stay", None, name)
        return True

    def running_session(self, build_profile: str) -> str:
        found = [s for s in self.t.sessions.values() if s.build_profile == build_profile
                 and s.state in (SessionState.PLANNING.value, SessionState.RUNNING.value)]
        return max(found, key=lambda s: (s.created_at, s.seq)).id if found else ""

    def published_plan(self, build_profile: str) -> Plan:
        sessions = sorted((s for s in self.t.sessions.values() if s.build_profile == build_profile), key=lambda s: (s.created_at, s.seq))
        latest: dict[str, PlannedPackage] = {}
        where = ("", "")
        for session in sessions:
            for row in sorted(self._session_packages(session.id), key=lambda p: p.id):
                if row.state == PackageState.PUBLISHED.value and row.identity:
                    latest[package_key(row.cpv, row.slot)] = PlannedPackage(
                        row.cpv, row.slot, row.sub_slot, row.repo, tuple(row.use.split()), slot_deps=tuple(row.slot_deps.split()),
                        identity=row.identity)
                    where = (session.arch, session.gentoo_profile)
        packages = tuple(latest[k] for k in sorted(latest))
        return Plan(packages, tuple(p.cpv for p in packages), arch=where[0], gentoo_profile=where[1])

    def published_identities(self, arch: str, simulated: bool) -> frozenset[str]:
        sessions = {s.id for s in self.t.sessions.values() if s.arch == arch and s.simulated == simulated}
        return frozenset(p.identity for sid in sessions for p in self._session_packages(sid)
                         if p.state == PackageState.PUBLISHED.value and p.identity)

    def published_paths(self, session_id: str) -> dict[str, str]:
        session = self.t.sessions[session_id]
        like = {s.id for s in self.t.sessions.values() if (s.arch, s.simulated) == (session.arch, session.simulated)}
        by_package = {p.id: p for sid in like for p in self._session_packages(sid)}
        newest: dict[str, tuple[float, str]] = {}
        for attempt in self.t.attempts.values():
            pkg = by_package.get(attempt.package_id)
            if pkg is None or not pkg.identity or attempt.published_at is None or not attempt.artifact:
                continue
            if attempt.published_at >= newest.get(pkg.identity, (-1.0, ""))[0]:
                newest[pkg.identity] = (attempt.published_at, attempt.artifact)
        return {p.cpv: newest[p.identity][1] for p in self._session_packages(session_id)
                if p.state == PackageState.PUBLISHED.value and p.identity in newest}

    def staged_builds(self, arch: str) -> dict[str, tuple[str, float]]:
        sessions = {s.id: s for s in self.t.sessions.values() if s.arch == arch}
        packages = {p.id: p for sid in sessions for p in self._session_packages(sid)}
        found: dict[str, tuple[str, float]] = {}
        for attempt in sorted(self.t.attempts.values(), key=lambda a: a.published_at or 0.0):
            pkg = packages.get(attempt.package_id)
            if pkg is None or not pkg.identity or attempt.published_at is None or not attempt.artifact:
                continue
            simulated = sessions[pkg.session_id].simulated
            found[attempt.artifact] = (build_key(pkg.identity, simulated), attempt.published_at)
        return found

    def running_cpvs(self, arch: str) -> frozenset[str]:
        return frozenset(p.cpv for s in self.t.sessions.values() if s.arch == arch
                         and s.state in (SessionState.PLANNING.value, SessionState.RUNNING.value)
                         for p in self._session_packages(s.id))

    def add_snapshot(self, snapshot: Snapshot) -> None:
        if snapshot.id in self.t.snapshots:
            raise ValueError(f"snapshot {snapshot.id} exists already")
        self.t.snapshots[snapshot.id] = snapshot
        self.t.event(snapshot.taken_at, "tree.snapshot", f"{snapshot.tree}: snapshot {snapshot.id} ({snapshot.files} files, "
                     f"{snapshot.size // 1024} KiB) — {snapshot.reason}", None, snapshot.id)

    def snapshots(self, tree: str = "", limit: int = 100) -> list[Snapshot]:
        found = sorted((s for s in self.t.snapshots.values() if not tree or s.tree == tree), key=lambda s: -s.taken_at)
        return found[:limit]

    def forget_snapshots(self, ids: Sequence[str]) -> int:
        return sum(1 for i in set(ids) if self.t.snapshots.pop(i, None) is not None)


def _object(body: str) -> dict[str, Any]:
    value = json.loads(body)
    assert isinstance(value, dict)
    return value
