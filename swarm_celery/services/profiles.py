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
from dataclasses import dataclass
from pathlib import Path

from swarm_celery.domain.profiles import BuildProfile
from swarm_celery.domain.snapshots import Snapshot, to_prune, tree_changed
from swarm_celery.errors import ConfigError, NotFoundError, UserError
from swarm_celery.ports import Clock, ProfileStore, RequestBuilder, TreeFiles
from swarm_celery.services.sessions import SessionQueue

log = logging.getLogger(__name__)


PENDING_FLAG = "sync_pending:"  # + profile name: the snapshot a postponed auto-rebuild is for


@dataclass(frozen=True)
class Synced:
    build_profile: str
    session: str
    full: bool
    atoms: int


class ProfileBusy(UserError):
    """A session of the profile is still planning or building: a second one would build its packages again."""

    def __init__(self, profile: str, session: str) -> None:
        super().__init__(f"profile {profile}: session {session} is still running; wait for it (`build-swarm status "
                         f"--session {session}`) or cancel it (`build-swarm control cancel --session {session}`)")
        self.session = session


class ProfileSync:
    def __init__(self, store: ProfileStore, requests: RequestBuilder, sessions: SessionQueue) -> None:
        self.store = store
        self.requests = requests
        self.sessions = sessions

    def sync(self, name: str, full: bool = False, priority: int = 0) -> Synced:
        """Queue a session of the profile: its packages compared by identity with what it published (all, if ``full``).
        Refused while another session of the profile runs: what it is building has not been published yet."""
        profile = self.store.get_profile(name)
        if profile is None:
            raise NotFoundError(f"no build profile named {name!r}; see `build-swarm profile list`")
        running = self.store.running_session(name)
        if running:
            raise ProfileBusy(name, running)
        request = self.requests(profile)
        session_id = self.sessions.queue(request, priority=priority, build_profile=name, reuse=not full)
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
        """Every tree a profile builds from: snapshot it when it changed, then sync its auto-rebuild profiles (a profile
        that is still building is synced at a later check, once its session ended)."""
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
        auto = [p for p in profiles if p.auto_rebuild]
        if not reason:
            synced, errors = self._rebuild([p for p in auto if self.store.get_flag(PENDING_FLAG + p.name)])
            return TreeCheck(tree, None, (), synced, errors)
        snapshot = self.files.take(Path(tree), current, reason)
        self.store.add_snapshot(snapshot)
        pruned = to_prune([snapshot, *known], self.keep)
        for old in pruned:
            self.files.remove(old)
        self.store.forget_snapshots([s.id for s in pruned])
        if known:  # the first snapshot of a tree is a starting point: profiles are synced by hand the first time
            for profile in auto:
                self.store.set_flag(PENDING_FLAG + profile.name, snapshot.id)
        synced, errors = self._rebuild(auto if known else [])
        return TreeCheck(tree, snapshot, tuple(s.id for s in pruned), synced, errors)

    def _rebuild(self, profiles: list[BuildProfile]) -> tuple[tuple[Synced, ...], tuple[str, ...]]:
        """Sync each profile with a pending auto-rebuild (changes only). One still building waits for a later check;
        one that cannot be read is an event, not the end of the others."""
        synced: list[Synced] = []
        errors: list[str] = []
        for profile in profiles:
            snapshot = self.store.get_flag(PENDING_FLAG + profile.name)
            try:
                done = self.syncer.sync(profile.name)
            except ProfileBusy as exc:
                self.store.add_event("profile.sync_postponed", f"{profile.name}: the tree changed (snapshot {snapshot}), "
                                     f"but session {exc.session} is still running: synced once it ended", None, profile.name)
                continue
            except (ConfigError, UserError) as exc:
                errors.append(f"{profile.name}: {exc}")
                self.store.set_flag(PENDING_FLAG + profile.name, "")
                self.store.add_event("profile.sync_failed", f"{profile.name}: after snapshot {snapshot}: {exc}", None, profile.name)
                continue
            self.store.set_flag(PENDING_FLAG + profile.name, "")
            synced.append(done)
            self.store.add_event("profile.auto_rebuild", f"{profile.name}: tree changed (snapshot {snapshot}); session "
                                 f"{done.session} builds what changed", done.session, profile.name)
        return tuple(synced), tuple(errors)


__all__ = ["ProfileBusy", "ProfileSync", "Synced", "TreeCheck", "TreeWatcher"]
