"""Build profiles as a use case: sync one (changes only, or everything), and the tree watcher that keeps them current.

``sync`` reads the profile's configuration now (for a user profile: the machine's world and
/etc/portage), queues a session of that profile and sends it to the coordinator to plan.
The coordinator diffs the plan against what the profile published (by binary-package
identity, domain.identity) and — unless ``full`` — builds only what is new or changed.

``TreeWatcher.check`` (beat, ``swarm.check_tree``) fingerprints every profile's main tree;
when one changed it takes a snapshot, prunes old ones, and syncs the auto-rebuild
profiles of that tree.
"""

from __future__ import annotations

import logging
import uuid
from dataclasses import dataclass
from pathlib import Path

from swarm_celery.domain.profiles import BuildProfile
from swarm_celery.domain.snapshots import Snapshot, to_prune, tree_changed
from swarm_celery.errors import ConfigError, UserError
from swarm_celery.ports import Clock, PlanQueue, ProfileStore, RequestBuilder, TreeFiles

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class Synced:
    profile: str
    session: str
    full: bool
    atoms: int


class ProfileSync:
    def __init__(self, store: ProfileStore, requests: RequestBuilder, plans: PlanQueue, simulated: bool) -> None:
        self.store = store
        self.requests = requests
        self.plans = plans
        self.simulated = simulated

    def sync(self, name: str, full: bool = False, priority: int = 0) -> Synced:
        profile = self.store.get_profile(name)
        if profile is None:
            raise UserError(f"no build profile named {name!r}; see `build-swarm profile list`")
        request = self.requests(profile)
        session_id = uuid.uuid4().hex[:12]
        self.store.create_session(session_id, request, self.simulated, priority, build_profile=name, reuse=not full)
        try:
            self.plans.send_plan(session_id)
        except Exception as exc:  # kombu raises transport-specific errors
            self.store.fail_session(session_id, f"could not reach the broker: {exc}")
            raise
        return Synced(name, session_id, full, len(request.world))


@dataclass(frozen=True)
class TreeCheck:
    tree: str
    snapshot: Snapshot | None  # taken now (None: the tree did not change)
    pruned: tuple[str, ...]
    synced: tuple[Synced, ...]
    errors: tuple[str, ...]


class TreeWatcher:
    def __init__(self, store: ProfileStore, files: TreeFiles, syncer: ProfileSync, clock: Clock, keep: int) -> None:
        self.store = store
        self.files = files
        self.syncer = syncer
        self.clock = clock
        self.keep = keep

    def check(self) -> list[TreeCheck]:
        """Every tree a profile builds from: snapshot it when it changed, then sync its auto-rebuild profiles."""
        profiles = self.store.list_profiles()
        trees = sorted({p.repos[0] for p in profiles if p.repos})
        return [self._check_tree(tree, [p for p in profiles if p.repos and p.repos[0] == tree]) for tree in trees]

    def _check_tree(self, tree: str, profiles: list[BuildProfile]) -> TreeCheck:
        try:
            current = self.files.fingerprint(Path(tree))
        except OSError as exc:
            self.store.add_event("tree.unreadable", f"{tree}: {exc}; profiles {', '.join(p.name for p in profiles)} wait", None, tree)
            return TreeCheck(tree, None, (), (), (str(exc),))
        known = self.store.snapshots(tree)
        reason = tree_changed(current, known)
        if not reason:
            return TreeCheck(tree, None, (), (), ())
        snapshot = self.files.take(Path(tree), current, reason)
        self.store.add_snapshot(snapshot)
        pruned = to_prune([snapshot, *known], self.keep)
        for old in pruned:
            self.files.remove(old)
        self.store.forget_snapshots([s.id for s in pruned])
        synced, errors = self._rebuild([p for p in profiles if p.auto_rebuild], snapshot) if known else ((), ())
        return TreeCheck(tree, snapshot, tuple(s.id for s in pruned), synced, errors)

    def _rebuild(self, profiles: list[BuildProfile], snapshot: Snapshot) -> tuple[tuple[Synced, ...], tuple[str, ...]]:
        """Sync each auto-rebuild profile (changes only); one that cannot be read is an event, not the end of the rest."""
        synced: list[Synced] = []
        errors: list[str] = []
        for profile in profiles:
            try:
                done = self.syncer.sync(profile.name)
            except (ConfigError, UserError) as exc:
                errors.append(f"{profile.name}: {exc}")
                self.store.add_event("profile.sync_failed", f"{profile.name}: after snapshot {snapshot.id}: {exc}", None, profile.name)
                continue
            synced.append(done)
            self.store.add_event("profile.auto_rebuild", f"{profile.name}: tree changed (snapshot {snapshot.id}); session "
                                 f"{done.session} builds what changed", done.session, profile.name)
        return tuple(synced), tuple(errors)


__all__ = ["ProfileSync", "Synced", "TreeCheck", "TreeWatcher"]
