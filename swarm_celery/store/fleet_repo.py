"""Fleet side of the store: drones (identity, capacity, pause, grounding) and swarm-wide flags.

A mixin of :class:`~swarm_celery.store.repository.SqlStore`.
"""

from __future__ import annotations

from sqlalchemy import Boolean, bindparam, func, or_, select, update

from swarm_celery.domain.model import DroneIdentity, Outcome
from swarm_celery.domain.records import DroneLoad
from swarm_celery.store.dispatch_repo import IN_FLIGHT, RepoBase
from swarm_celery.store.models import AttemptRow, DroneRow, FlagRow, HealthRow, SessionRow
from swarm_celery.store.rows import event_row, rows_matched

_HEARD_AGAIN = update(DroneRow).where(
    DroneRow.name == bindparam("b_name"), DroneRow.arch == bindparam("b_arch"), DroneRow.slots == bindparam("b_slots"),
    DroneRow.cores == bindparam("b_cores"), DroneRow.tree_timestamp == bindparam("b_tree"),
    DroneRow.gentoo_profile == bindparam("b_profile"), or_(DroneRow.paused.is_(True), bindparam("b_paused", type_=Boolean).is_(False)),
).values(state="online", last_seen=bindparam("b_now"), memory_mb=bindparam("b_memory"), disk_free_mb=bindparam("b_disk"),
         payload_version=bindparam("b_version"), builder=bindparam("b_builder"), payload_hash=bindparam("b_hash"))


class FleetRepo(RepoBase):
    def register_drone(self, identity: DroneIdentity) -> None:
        """A drone announced itself: record what it has; an event when it is new or its capacity changed."""
        now = self.clock.now()
        if self._heard_again(identity, now):
            return
        with self._sessions.begin() as db:
            row = db.get(DroneRow, identity.name)
            what = f"{identity.name} ({identity.arch}): {identity.cores} cores, {identity.memory_mb} MiB, " \
                   f"{identity.disk_free_mb} MiB free disk, {identity.slots} slots"
            if row is None:
                row = DroneRow(name=identity.name, arch=identity.arch, first_seen=now, builds=0, failures=0, grounded_until=0.0)
                db.add(row)
                db.add(event_row(now, "drone.joined", what, None, identity.name))
            elif (row.slots, row.cores, row.arch) != (identity.slots, identity.cores, identity.arch):
                db.add(event_row(now, "drone.changed", what, None, identity.name))
            row.arch, row.state, row.last_seen = identity.arch, "online", now
            row.cores, row.memory_mb, row.disk_free_mb, row.slots = identity.cores, identity.memory_mb, identity.disk_free_mb, identity.slots
            if (row.tree_timestamp or "", row.gentoo_profile or "") != (identity.tree_timestamp, identity.gentoo_profile) and row.tree_timestamp:
                db.add(event_row(now, "drone.tree", f"{identity.name}: tree {identity.tree_timestamp or '?'}, profile "
                                                    f"{identity.gentoo_profile or '?'} (was {row.tree_timestamp}, {row.gentoo_profile or '?'})",
                                 None, identity.name))
            row.tree_timestamp, row.gentoo_profile = identity.tree_timestamp, identity.gentoo_profile
            row.payload_version, row.builder, row.payload_hash = identity.payload_version, identity.builder, identity.payload_hash
            if identity.paused and not row.paused:
                row.paused = True
                db.add(event_row(now, "drone.paused", f"{identity.name} started paused (its settings)", None, identity.name))

    def _heard_again(self, identity: DroneIdentity, now: float) -> bool:
        """The common heartbeat, one UPDATE: a known drone whose capacity, tree and pause are as recorded (nothing an
        event would note). False when it matched no row: the full path records what changed."""
        values = {"b_name": identity.name, "b_arch": identity.arch, "b_slots": identity.slots, "b_cores": identity.cores,
                  "b_tree": identity.tree_timestamp, "b_profile": identity.gentoo_profile, "b_paused": identity.paused,
                  "b_now": now, "b_memory": identity.memory_mb, "b_disk": identity.disk_free_mb, "b_version": identity.payload_version,
                  "b_builder": identity.builder, "b_hash": identity.payload_hash}
        with self.engine.begin() as db:
            return rows_matched(db.execute(_HEARD_AGAIN, values)) == 1

    def touch_drone(self, name: str, arch: str) -> None:
        """A known drone reported: it is online. A report never makes a drone known (only its hello does): a forged
        report naming a new drone must not bring a worker nobody runs into placement."""
        with self._sessions.begin() as db:
            db.execute(update(DroneRow).where(DroneRow.name == name, DroneRow.arch == arch).values(last_seen=self.clock.now(),
                                                                                                  state="online"))

    def drone_offline(self, name: str, why: str) -> None:
        with self._sessions.begin() as db:
            row = db.get(DroneRow, name)
            if row is not None and row.state != "offline":
                row.state = "offline"
                db.add(event_row(self.clock.now(), "drone.offline", f"{name}: {why}", None, name))

    def drone_loads(self, arch: str) -> list[DroneLoad]:
        """Every drone of ``arch`` that is not marked offline, with the builds it has in flight and its stale-tree hold."""
        with self.engine.connect() as db:
            drones = db.execute(select(DroneRow.name, DroneRow.arch, DroneRow.slots, DroneRow.paused, DroneRow.grounded_until,
                                       DroneRow.last_seen, DroneRow.builder)
                                .where(DroneRow.arch == arch, DroneRow.state != "offline")).all()  # what placement needs
            running: dict[str, list[tuple[float, float]]] = {}
            names = {d.name for d in drones}
            query = select(AttemptRow.drone, AttemptRow.dispatched_at, AttemptRow.started_at, AttemptRow.expected).where(
                AttemptRow.state.in_(IN_FLIGHT))  # one range of ix_attempts_state_drone: the fleet's builds in flight
            for drone, dispatched, started, expected in db.execute(query):
                if drone is not None and drone in names:
                    running.setdefault(drone, []).append((started or dispatched, expected))
            holds = {str(d): str(h) for d, h in db.execute(select(HealthRow.drone, HealthRow.tree_hold).where(HealthRow.tree_hold != ""))}
            return [DroneLoad(d.name, d.arch, d.slots, d.paused, d.grounded_until, d.last_seen, tuple(running.get(d.name, ())),
                              holds.get(d.name, ""), d.builder or "") for d in drones]

    def set_drone_paused(self, name: str, paused: bool) -> bool:
        """Pause or resume one drone; False when no such drone. Idempotent (an event only on change)."""
        return self._set_drone(name, "paused", paused, "drone.paused" if paused else "drone.resumed", name)

    def set_grounded(self, name: str, until: float, reason: str) -> bool:
        """Ground a drone until ``until`` (0 un-grounds it). False when no such drone."""
        return self._set_drone(name, "grounded_until", until, "drone.grounded" if until else "drone.ungrounded", f"{name}: {reason}")

    def expired_groundings(self, now: float) -> list[tuple[str, str]]:
        """(name, arch) of the drones whose grounding ran out and is not yet lifted (beat lifts it: ``swarm.breaker``)."""
        query = select(DroneRow.name, DroneRow.arch).where(DroneRow.grounded_until > 0, DroneRow.grounded_until <= now)
        with self.engine.connect() as db:
            return [(str(name), str(arch)) for name, arch in db.execute(query.order_by(DroneRow.name))]

    def grounded_until(self, name: str) -> float:
        """When a drone's grounding ends (0 when it is not grounded or does not exist)."""
        with self.engine.connect() as db:
            return float(db.execute(select(DroneRow.grounded_until).where(DroneRow.name == name)).scalar() or 0.0)

    def drone_arch(self, name: str) -> str:
        """The arch a drone announced ("" when no such drone)."""
        with self.engine.connect() as db:
            return db.execute(select(DroneRow.arch).where(DroneRow.name == name)).scalar() or ""

    def _set_drone(self, name: str, column: str, value: object, event: str, message: str) -> bool:
        with self._sessions.begin() as db:
            row = db.get(DroneRow, name)
            if row is None:
                return False
            if getattr(row, column) != value:
                setattr(row, column, value)
                db.add(event_row(self.clock.now(), event, message, None, name))
            return True

    def infrastructure_failures(self, name: str, since: float) -> int:
        query = select(func.count()).select_from(AttemptRow).where(
            AttemptRow.drone == name, AttemptRow.outcome == Outcome.FAILED.value, AttemptRow.infrastructure.is_(True),
            AttemptRow.counted.is_(True), AttemptRow.finished_at >= since)
        with self._sessions() as db:
            return int(db.scalar(query) or 0)

    def arches(self) -> list[str]:
        """Every arch a drone or a running session has."""
        with self._sessions() as db:
            drones = set(db.scalars(select(DroneRow.arch).distinct()))
            sessions = set(db.scalars(select(SessionRow.arch).where(SessionRow.state == "running").distinct()))
            return sorted(drones | sessions)

    def get_flag(self, name: str) -> str:
        with self.engine.connect() as db:
            return db.execute(select(FlagRow.value).where(FlagRow.name == name)).scalar() or ""

    def set_flag(self, name: str, value: str) -> bool:
        """Set (or with "" clear) a swarm-wide flag; True when it changed."""
        with self._sessions.begin() as db:
            row = db.get(FlagRow, name)
            if (row.value if row else "") == value:
                return False
            if row is None:
                db.add(FlagRow(name=name, value=value))
            else:
                row.value = value
            return True
