"""Celery task of the tree watcher (beat, ``swarm.check_tree``): a thin shim over services.profiles.TreeWatcher."""

from __future__ import annotations

import logging
from collections.abc import Callable

from celery import Celery

from swarm_celery.domain.trust import refusal
from swarm_celery.services.profiles import TreeWatcher
from swarm_celery.tasks.batches import one_writer

log = logging.getLogger(__name__)


def register(app: Celery, watcher: Callable[[], TreeWatcher], signing: bool = False) -> None:
    @app.task(name="swarm.check_tree")  # type: ignore[untyped-decorator]
    def check_tree(signed_by: str = "") -> list[dict[str, object]]:
        """Snapshot every profile's tree that changed and queue its auto-rebuild profiles' changes (``signed_by``: the
        signer tasks.signing names; beat signs with the coordinator's certificate)."""
        if refusal("swarm.check_tree", signed_by, signing):
            log.warning("swarm.check_tree from %r refused: only the coordinator's certificate may send it", signed_by)
            return []
        with one_writer():
            return [{"tree": c.tree, "snapshot": c.snapshot.id if c.snapshot else None, "pruned": list(c.pruned),
                     "sessions": [s.session for s in c.synced], "errors": list(c.errors)} for c in watcher().check()]
