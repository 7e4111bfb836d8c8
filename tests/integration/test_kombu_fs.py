"""The filesystem transport under concurrent producers and consumers: no empty or partial message."""

from __future__ import annotations

import threading
from pathlib import Path

from kombu import Connection, Queue

from swarm_celery.app import filesystem_broker_options


def test_concurrent_publish_and_consume_never_sees_a_partial_message(tmp_path: Path) -> None:
    options = filesystem_broker_options(tmp_path) | {"polling_interval": 0.0}
    queue = Queue("build.amd64", routing_key="build.amd64")
    total, producers = 200, 4
    payload = {"blob": "x" * 2_000_000}  # big messages: writing takes long enough for a poller to catch it
    received: list[dict[str, object]] = []
    errors: list[BaseException] = []

    def produce() -> None:
        with Connection("filesystem://", transport="swarm_celery.kombu_fs:Transport", transport_options=options) as conn:
            producer = conn.Producer()
            for _ in range(total // producers):
                producer.publish(payload, routing_key="build.amd64", declare=[queue], serializer="json")

    def consume() -> None:
        try:
            with Connection("filesystem://", transport="swarm_celery.kombu_fs:Transport", transport_options=options) as conn:
                simple = conn.SimpleQueue(queue)
                while len(received) < total:
                    message = simple.get(timeout=20)
                    received.append(message.payload)
                    message.ack()
        except BaseException as exc:
            errors.append(exc)

    consumer = threading.Thread(target=consume)
    consumer.start()
    threads = [threading.Thread(target=produce) for _ in range(producers)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    consumer.join(timeout=120)
    assert errors == []
    assert len(received) == total and all(r == payload for r in received)
