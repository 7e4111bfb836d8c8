"""The broker census (port ``BrokerCensus``): which attempts the broker holds a message for, read off Redis.

kombu's Redis transport keeps each queue as lists (``<queue>`` and, per priority step,
``<queue>\\x06\\x16<n>``) and every message a worker took but has not acknowledged in the
hash ``unacked`` (``task_acks_late``: until the build ends). A build message's task id is
its attempt id; a report to the coordinator names its attempt in ``argsrepr``. The census
reads in the order messages flow — build queues, then the workers' hands, then the
coordinator's queue — so a message moving on is seen at least once, or its attempt has
left the "dispatched" state by the time the store is read.
"""

from __future__ import annotations

import json
import re
from collections.abc import Iterable
from typing import Any

from celery import Celery

from swarm_celery.domain.model import COORDINATOR_QUEUE

ATTEMPT_ID = re.compile(r"\b[0-9a-f]{32}\b")  # uuid4().hex; Celery's own task ids carry dashes
BUILD_QUEUES = ("drone.*", "build.*")


class RedisCensus:
    def __init__(self, app: Celery) -> None:
        self.app = app

    def epoch(self) -> str:
        """Redis's run id: it changes when the server restarts (and with it, without persistence, every message)."""
        with self.app.connection_for_read() as connection:
            client = getattr(connection.default_channel, "client", None)
            return str(client.info("server").get("run_id", "")) if client is not None else ""

    def held(self) -> frozenset[str] | None:
        with self.app.connection_for_read() as connection:
            channel = connection.default_channel
            client = getattr(channel, "client", None)
            if client is None or not hasattr(channel, "unacked_key"):
                return None  # not kombu's Redis transport
            ids: set[str] = set()
            for pattern in BUILD_QUEUES:
                ids.update(_queued(client, pattern))
            for raw in client.hvals(channel.unacked_key):
                ids.update(message_ids(json.loads(raw)[0]))
            ids.update(_queued(client, f"{COORDINATOR_QUEUE}*"))
            return frozenset(ids)


def _queued(client: Any, pattern: str) -> Iterable[str]:
    for key in client.scan_iter(match=pattern, count=500):
        if client.type(key) in (b"list", "list"):
            for raw in client.lrange(key, 0, -1):
                yield from message_ids(json.loads(raw))


def message_ids(message: dict[str, Any]) -> set[str]:
    """The attempt ids a Celery message stands for: its own task id, and those its arguments name (reports)."""
    headers = message.get("headers") or {}
    found = set(ATTEMPT_ID.findall(str(headers.get("argsrepr", ""))))
    task_id = str(headers.get("id", ""))
    if ATTEMPT_ID.fullmatch(task_id):
        found.add(task_id)
    return found


__all__ = ["RedisCensus", "message_ids"]
