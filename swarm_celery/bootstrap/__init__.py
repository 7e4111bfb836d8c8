"""Composition root: Settings → concrete adapters → services, and the Celery app for each role.

The only place that knows which adapter implements which port. Entry points (the CLI, the
worker launchers, the demo) call it with a :class:`~swarm_celery.settings.Settings`; tests
call it with theirs. Its parts, by role:

    core         the record (engine, store, queries), the broker, durations, signing, the fleet inventory
    coordinator  the coordinator's services and Celery app, beat's schedule, profiles, the fleet doctor
    drone        a drone's builder, Celery app, uploads and identity
    api          the HTTP API and how it turns queued atoms into a resolve request
    inputs       what a user names on the command line (trees, world, configuration, a saved plan), read
    run          a role in the foreground (a worker, beat)

Each name is imported from its part when first used (``bootstrap.store(settings)`` loads the
record's adapters, not Celery's or FastAPI's): `build-swarm resolve` starts in a fraction of
the time the whole root takes to import. mypy sees every name through the imports below.
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from swarm_celery.bootstrap.api import api_app, request_maker, serve_api
    from swarm_celery.bootstrap.coordinator import (
        beat_app,
        coordinator,
        coordinator_app,
        coordinator_services,
        explainer,
        fleet_doctor,
        profile_requests,
        profile_sync,
        session_queue,
        tree_watcher,
    )
    from swarm_celery.bootstrap.core import (
        SHIPPED_DURATIONS,
        celery_app,
        create_signing_key,
        drone_tokens,
        durations,
        engine,
        hosts,
        inventory,
        messenger,
        queries,
        scheduler_config,
        signer,
        signing_key_file,
        store,
        uploads_dir,
    )
    from swarm_celery.bootstrap.drone import (
        builder,
        config_source,
        drone_app,
        drone_identity,
        drone_transport,
        emerge_builder,
        emerge_prefix,
        init_prefix,
    )
    from swarm_celery.bootstrap.inputs import (
        DEFAULT_GENTOO_REPO,
        check_repo,
        plan_json,
        read_saved_plan,
        read_world,
        request_from_options,
        resolver,
    )
    from swarm_celery.bootstrap.run import run_beat, run_coordinator_worker, run_drone, stop_orphans

_HOMES = {
    "SHIPPED_DURATIONS": "core",
    "celery_app": "core",
    "create_signing_key": "core",
    "drone_tokens": "core",
    "durations": "core",
    "engine": "core",
    "hosts": "core",
    "inventory": "core",
    "messenger": "core",
    "queries": "core",
    "scheduler_config": "core",
    "signer": "core",
    "signing_key_file": "core",
    "store": "core",
    "uploads_dir": "core",
    "beat_app": "coordinator",
    "coordinator": "coordinator",
    "coordinator_app": "coordinator",
    "coordinator_services": "coordinator",
    "explainer": "coordinator",
    "fleet_doctor": "coordinator",
    "profile_requests": "coordinator",
    "profile_sync": "coordinator",
    "session_queue": "coordinator",
    "tree_watcher": "coordinator",
    "builder": "drone",
    "drone_app": "drone",
    "drone_identity": "drone",
    "drone_transport": "drone",
    "emerge_builder": "drone",
    "emerge_prefix": "drone",
    "config_source": "drone",
    "init_prefix": "drone",
    "api_app": "api",
    "request_maker": "api",
    "serve_api": "api",
    "DEFAULT_GENTOO_REPO": "inputs",
    "check_repo": "inputs",
    "plan_json": "inputs",
    "read_saved_plan": "inputs",
    "read_world": "inputs",
    "request_from_options": "inputs",
    "resolver": "inputs",
    "run_beat": "run",
    "run_coordinator_worker": "run",
    "run_drone": "run",
    "stop_orphans": "run",
}


def __getattr__(name: str) -> Any:
    home = _HOMES.get(name)
    if home is None:
        raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
    return getattr(importlib.import_module(f"{__name__}.{home}"), name)


def __dir__() -> list[str]:
    return sorted(_HOMES)


__all__ = [
    "DEFAULT_GENTOO_REPO",
    "SHIPPED_DURATIONS",
    "api_app",
    "beat_app",
    "builder",
    "celery_app",
    "check_repo",
    "config_source",
    "coordinator",
    "coordinator_app",
    "coordinator_services",
    "create_signing_key",
    "drone_app",
    "drone_identity",
    "drone_tokens",
    "drone_transport",
    "durations",
    "emerge_builder",
    "emerge_prefix",
    "engine",
    "explainer",
    "fleet_doctor",
    "hosts",
    "init_prefix",
    "inventory",
    "messenger",
    "plan_json",
    "profile_requests",
    "profile_sync",
    "queries",
    "read_saved_plan",
    "read_world",
    "request_from_options",
    "request_maker",
    "resolver",
    "run_beat",
    "run_coordinator_worker",
    "run_drone",
    "scheduler_config",
    "serve_api",
    "session_queue",
    "signer",
    "signing_key_file",
    "stop_orphans",
    "store",
    "tree_watcher",
    "uploads_dir",
]
