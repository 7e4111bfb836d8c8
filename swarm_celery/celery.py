"""The module-level Celery app, for Celery's own command line and the tools built on it, the way Celery's docs use one:

    celery -A swarm_celery inspect ping
    celery -A swarm_celery worker -Q build.amd64,drone.box1 -n drone.box1@%h     # a drone: SWARM_DRONE_NAME=box1
    celery -A swarm_celery worker -Q coordinator,periodic -P solo -n coordinator@%h
    celery -A swarm_celery beat
    celery -A swarm_celery flower

Its configuration is :mod:`swarm_celery.celeryconfig` (every ``SWARM_*`` setting, read from the environment when
Celery first needs it); its tasks are registered when Celery finalizes it. build-swarm's own commands never import
this module: they build their apps from their settings (:mod:`swarm_celery.bootstrap`).
"""

from __future__ import annotations

from celery import Celery

app = Celery("build-swarm")
app.config_from_object("swarm_celery.celeryconfig")


@app.on_after_finalize.connect  # type: ignore[untyped-decorator]
def _register_tasks(sender: Celery, **_: object) -> None:
    from swarm_celery import bootstrap
    from swarm_celery.settings import Settings

    bootstrap.celery_command_tasks(sender, Settings.from_env())
