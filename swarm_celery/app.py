"""The Celery app factory: routing (coordinator, build.<arch>, drone.<name>) and delivery guarantees.

Delivery is at-least-once (DESIGN.md decision 4): ``task_acks_late``,
``task_reject_on_worker_lost``, prefetch 1, and a visibility timeout above the
longest build. Results are ignored: the database is the record.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from celery import Celery

from swarm_celery.domain.model import COORDINATOR_QUEUE, PERIODIC_QUEUE

CELERY_DEFAULTS: dict[str, Any] = {
    "task_acks_late": True,
    "task_reject_on_worker_lost": True,
    "worker_prefetch_multiplier": 1,
    "task_ignore_result": True,
    "task_serializer": "json",
    "accept_content": ["json"],
    "task_default_queue": COORDINATOR_QUEUE,
    "task_routes": {
        "swarm.plan": {"queue": COORDINATOR_QUEUE},
        "swarm.build_started": {"queue": COORDINATOR_QUEUE},
        "swarm.build_finished": {"queue": COORDINATOR_QUEUE},
        "swarm.dispatch": {"queue": COORDINATOR_QUEUE},
        "swarm.drone_hello": {"queue": COORDINATOR_QUEUE},
        "swarm.drone_goodbye": {"queue": COORDINATOR_QUEUE},
        "swarm.control": {"queue": COORDINATOR_QUEUE},
        "swarm.reclaim": {"queue": PERIODIC_QUEUE},
        "swarm.probe_fleet": {"queue": PERIODIC_QUEUE},
        "swarm.audit_fleet": {"queue": PERIODIC_QUEUE},
        "swarm.breaker": {"queue": PERIODIC_QUEUE},
        "swarm.check_tree": {"queue": PERIODIC_QUEUE},
    },
    "worker_hijack_root_logger": False,
    "broker_connection_retry_on_startup": True,
    "worker_send_task_events": True,
    "task_send_sent_event": True,
}


def broker_options(broker_url: str, visibility_timeout: int) -> dict[str, Any]:
    if broker_url.startswith("filesystem://"):
        return {}
    # ten priority lists per queue (0 first): critical-path reports reach the coordinator first
    return {"visibility_timeout": visibility_timeout, "priority_steps": list(range(10))}


def filesystem_broker_options(folder: Path) -> dict[str, Any]:
    """kombu's filesystem transport: one folder in and out (single host), polled every 0.1 s."""
    for sub in ("queue", "processed", "control"):
        (folder / sub).mkdir(parents=True, exist_ok=True)
    return {
        "data_folder_in": str(folder / "queue"),
        "data_folder_out": str(folder / "queue"),
        "processed_folder": str(folder / "processed"),
        "store_processed": False,
        "control_folder": str(folder / "control"),
        "polling_interval": 0.1,
    }


def celery_config(broker_url: str, visibility_timeout: int, broker_folder: Path | None = None) -> dict[str, Any]:
    """Every Celery setting of build-swarm for this broker: what :func:`create_app` applies, and what the module-level
    app of Celery's own command line reads (``swarm_celery.celeryconfig``), so both route and prioritise alike."""
    config = {**CELERY_DEFAULTS, "broker_url": broker_url}
    if broker_url.startswith("filesystem://"):
        if broker_folder is None:
            raise ValueError("the filesystem:// broker needs a folder")
        config["broker_transport_options"] = filesystem_broker_options(broker_folder)
        config["broker_transport"] = "swarm_celery.kombu_fs:Transport"  # atomic writes (see kombu_fs)
    else:
        config["broker_transport_options"] = broker_options(broker_url, visibility_timeout)
    return config


def create_app(broker_url: str, visibility_timeout: int, broker_folder: Path | None = None) -> Celery:
    app = Celery("build-swarm", broker=broker_url, set_as_current=False)
    app.conf.update(celery_config(broker_url, visibility_timeout, broker_folder))
    return app
