"""Celery task of the tree watcher (beat, ``swarm.check_tree``): a thin shim over services.profiles.TreeWatcher."""

from __future__ import annotations

from collections.abc import Callable

from celery import Celery

from swarm_celery.services.profiles import TreeWatcher
from swarm_celery.tasks.batches import one_writer


def register(app: Celery, watcher: Callable[[], TreeWatcher]) -> None:
    @app.task(name="swarm.check_tree")  # type: ignore[untyped-decorator]
    def check_tree() -> list[dict[str, object]]:
        """Snapshot every profile's tree that changed and queue its auto-rebuild profiles' changes."""
        with one_writer():
            return [{"tree": c.tree, "snapshot": c.snapshot.id if c.snapshot else None, "pruned": list(c.pruned),
                     "sessions": [s.session for s in c.synced], "errors": list(c.errors)} for c in watcher().check()]
