"""Build profiles and tree snapshots in the store, and what each profile last published (by identity).

A mixin of :class:`~swarm_celery.store.repository.SqlStore`.
"""

from __future__ import annotations

import json
from collections.abc import Sequence

from sqlalchemy import delete, select

from swarm_celery.domain.disk_budget import build_key
from swarm_celery.domain.identity import package_key
from swarm_celery.domain.model import PackageState, Plan, PlannedPackage, SessionState
from swarm_celery.domain.profiles import BuildProfile
from swarm_celery.domain.snapshots import Snapshot
from swarm_celery.store.dispatch_repo import RepoBase
from swarm_celery.store.models import AttemptRow, PackageRow, ProfileRow, SessionRow, SnapshotRow
from swarm_celery.store.rows import event_row, rows_matched


class ProfileRepo(RepoBase):
    def save_profile(self, profile: BuildProfile, create: bool) -> bool:
        """Create (``create``) or replace a profile; False when it exists already (create) or does not (replace)."""
        now = self.clock.now()
        with self._sessions.begin() as db:
            row = db.get(ProfileRow, profile.name)
            if (row is None) != create:
                return False
            if row is None:
                row = ProfileRow(name=profile.name, created_at=now)
                db.add(row)
            row.mode, row.arch, row.auto_rebuild, row.updated_at = profile.mode.value, profile.arch, profile.auto_rebuild, now
            row.body = json.dumps(profile.to_json(), sort_keys=True)
            db.add(event_row(now, "profile.created" if create else "profile.changed",
                             f"{profile.name}: {profile.mode.value}, {profile.arch}, {profile.gentoo_profile}"
                             + (", auto-rebuild" if profile.auto_rebuild else ""), None, profile.name))
            return True

    def get_profile(self, name: str) -> BuildProfile | None:
        with self.engine.connect() as db:
            body = db.execute(select(ProfileRow.body).where(ProfileRow.name == name)).scalar()
            return BuildProfile.from_json(json.loads(body)) if body else None

    def list_profiles(self, auto_rebuild_only: bool = False) -> list[BuildProfile]:
        query = select(ProfileRow.body).order_by(ProfileRow.name)
        if auto_rebuild_only:
            query = query.where(ProfileRow.auto_rebuild.is_(True))
        with self.engine.connect() as db:
            return [BuildProfile.from_json(json.loads(body)) for body in db.execute(query).scalars()]

    def delete_profile(self, name: str) -> bool:
        """Forget a profile (its sessions and what they published stay). False when there is none."""
        with self._sessions.begin() as db:
            gone = rows_matched(db.execute(delete(ProfileRow).where(ProfileRow.name == name)))
            if gone:
                db.add(event_row(self.clock.now(), "profile.deleted", f"{name} deleted; its sessions stay", None, name))
            return bool(gone)

    def running_session(self, build_profile: str) -> str:
        """The newest session of the profile still planning or running ("" when none)."""
        query = (select(SessionRow.id).where(SessionRow.build_profile == build_profile,
                                             SessionRow.state.in_([SessionState.PLANNING.value, SessionState.RUNNING.value]))
                 .order_by(SessionRow.created_at.desc()).limit(1))
        with self.engine.connect() as db:
            return db.execute(query).scalar() or ""

    def published_plan(self, build_profile: str) -> Plan:
        """What the profile's sessions published, as a plan: per ``cat/pkg:slot`` the package of the latest session
        (its identity and ``:=`` bindings). A sync diffs its new plan against this one (domain.identity)."""
        query = (select(PackageRow, SessionRow.arch, SessionRow.gentoo_profile)
                 .join(SessionRow, SessionRow.id == PackageRow.session_id)
                 .where(SessionRow.build_profile == build_profile, PackageRow.state == PackageState.PUBLISHED.value,
                        PackageRow.identity != "")
                 .order_by(SessionRow.created_at, PackageRow.id))
        latest: dict[str, PlannedPackage] = {}
        where = ("", "")  # the arch and Gentoo profile of the latest session
        with self._sessions() as db:
            for row, arch, gentoo_profile in db.execute(query):
                pkg = PlannedPackage(row.cpv, row.slot, row.sub_slot, row.repo, tuple(row.use.split()),
                                     slot_deps=tuple(row.slot_deps.split()), identity=row.identity)
                latest[package_key(row.cpv, row.slot)] = pkg
                where = (arch, gentoo_profile)
        packages = tuple(latest[k] for k in sorted(latest))
        return Plan(packages, tuple(p.cpv for p in packages), arch=where[0], gentoo_profile=where[1])

    def published_identities(self, arch: str, simulated: bool) -> frozenset[str]:
        """The identities of every package published for ``arch`` by sessions that simulate (or not) like ``simulated``:
        what the binhost holds already, whichever session built it."""
        query = (select(PackageRow.identity).distinct().join(SessionRow, SessionRow.id == PackageRow.session_id)
                 .where(SessionRow.arch == arch, SessionRow.simulated.is_(simulated),
                        PackageRow.state == PackageState.PUBLISHED.value, PackageRow.identity != ""))
        with self.engine.connect() as db:
            return frozenset(db.execute(query).scalars())

    def published_paths(self, session_id: str) -> dict[str, str]:
        """Where each published package of the session is in its arch's binhost tree (cpv → path): the file its own
        attempt published, or for a package it did not build again the newest file published with its identity."""
        session = select(SessionRow.arch, SessionRow.simulated).where(SessionRow.id == session_id).subquery()
        mine = select(PackageRow.cpv, PackageRow.identity).where(PackageRow.session_id == session_id,
                                                                 PackageRow.state == PackageState.PUBLISHED.value).subquery()
        builds = (select(mine.c.cpv, AttemptRow.artifact)
                  .join(PackageRow, PackageRow.identity == mine.c.identity)
                  .join(SessionRow, SessionRow.id == PackageRow.session_id)
                  .join(AttemptRow, AttemptRow.package_id == PackageRow.id)
                  .where(mine.c.identity != "", AttemptRow.published_at.is_not(None), AttemptRow.artifact != "",
                         SessionRow.arch == session.c.arch, SessionRow.simulated == session.c.simulated)
                  .order_by(AttemptRow.published_at))
        with self.engine.connect() as db:
            return {cpv: path for cpv, path in db.execute(builds)}  # the newest last: it wins

    def staged_builds(self, arch: str) -> dict[str, tuple[str, float]]:
        """Each file published into the arch's staging tree by an attempt of a package with an identity: its identity
        (with whether the session simulated) and when it was published (the newest publication of a path wins)."""
        query = (select(AttemptRow.artifact, PackageRow.identity, SessionRow.simulated, AttemptRow.published_at)
                 .join(PackageRow, PackageRow.id == AttemptRow.package_id)
                 .join(SessionRow, SessionRow.id == AttemptRow.session_id)
                 .where(SessionRow.arch == arch, AttemptRow.published_at.is_not(None), AttemptRow.artifact != "",
                        PackageRow.identity != "")
                 .order_by(AttemptRow.published_at))
        with self.engine.connect() as db:
            return {path: (build_key(identity, simulated), float(at or 0.0))
                    for path, identity, simulated, at in db.execute(query)}

    def running_cpvs(self, arch: str) -> frozenset[str]:
        """The CPVs planned by the arch's sessions still planning or running (drones may be fetching their files)."""
        query = (select(PackageRow.cpv).distinct().join(SessionRow, SessionRow.id == PackageRow.session_id)
                 .where(SessionRow.arch == arch,
                        SessionRow.state.in_([SessionState.PLANNING.value, SessionState.RUNNING.value])))
        with self.engine.connect() as db:
            return frozenset(db.execute(query).scalars())

    def add_snapshot(self, snapshot: Snapshot) -> None:
        with self._sessions.begin() as db:
            db.add(SnapshotRow(id=snapshot.id, taken_at=snapshot.taken_at, tree=snapshot.tree, fingerprint=snapshot.fingerprint,
                               sha256=snapshot.sha256, path=snapshot.path, size=snapshot.size, files=snapshot.files,
                               reason=snapshot.reason))
            db.add(event_row(snapshot.taken_at, "tree.snapshot", f"{snapshot.tree}: snapshot {snapshot.id} ({snapshot.files} files, "
                             f"{snapshot.size // 1024} KiB) — {snapshot.reason}", None, snapshot.id))

    def snapshots(self, tree: str = "", limit: int = 100) -> list[Snapshot]:
        """Newest first."""
        query = select(SnapshotRow).order_by(SnapshotRow.taken_at.desc()).limit(limit)
        if tree:
            query = query.where(SnapshotRow.tree == tree)
        with self._sessions() as db:
            return [Snapshot(r.id, r.taken_at, r.tree, r.fingerprint, r.sha256, r.path, r.size, r.files, r.reason)
                    for r in db.scalars(query)]

    def forget_snapshots(self, ids: Sequence[str]) -> int:
        if not ids:
            return 0
        with self._sessions.begin() as db:
            return rows_matched(db.execute(delete(SnapshotRow).where(SnapshotRow.id.in_(list(ids)))))
