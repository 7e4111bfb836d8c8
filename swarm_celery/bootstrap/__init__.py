"""Composition root: Settings → concrete adapters → services, and the Celery app for each role.

The only place that knows which adapter implements which port. Entry points (the CLI, the
worker launchers, the demo) call it with a :class:`~swarm_celery.settings.Settings`; tests
call it with theirs. Its parts, by role:

    core         the record (engine, store, queries), the broker, durations, signing, the fleet inventory
    coordinator  the coordinator's services and Celery app, beat's schedule, profiles, the fleet doctor
    drone        a drone's builder, Celery app, uploads and identity
    fleet        provisioning, the rolling deploy and the audit of drone hosts over SSH
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
        generations,
        profile_requests,
        profile_sync,
        session_queue,
        tree_watcher,
    )
    from swarm_celery.bootstrap.core import (
        SHIPPED_DURATIONS,
        build_logs,
        build_logs_dir,
        celery_app,
        create_message_certificate,
        create_signing_key,
        drone_tokens,
        durations,
        engine,
        hosts,
        inventory,
        messenger,
        queries,
        scheduler_config,
        served_signing,
        signer,
        signing,
        signing_key_file,
        store,
        uploads_dir,
    )
    from swarm_celery.bootstrap.drone import (
        builder,
        config_source,
        drone_app,
        drone_identity,
        drone_preflight,
        drone_transport,
        emerge_builder,
        emerge_prefix,
        init_prefix,
    )
    from swarm_celery.bootstrap.fleet import (
        bootstrap_script,
        drift_watch,
        drone_order,
        drone_spec,
        fleet_auditor,
        payload,
        provisioner,
        reach,
        rolling_deploy,
        select_drones,
        shipped,
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
    from swarm_celery.bootstrap.run import (
        celery_command_config,
        celery_command_tasks,
        run_beat,
        run_coordinator_worker,
        run_drone,
        run_flower,
        stop_orphans,
    )

_HOMES = {
    "SHIPPED_DURATIONS": "core",
    "build_logs": "core",
    "build_logs_dir": "core",
    "celery_app": "core",
    "create_message_certificate": "core",
    "create_signing_key": "core",
    "drone_tokens": "core",
    "durations": "core",
    "engine": "core",
    "hosts": "core",
    "inventory": "core",
    "messenger": "core",
    "queries": "core",
    "scheduler_config": "core",
    "served_signing": "core",
    "signer": "core",
    "signing": "core",
    "signing_key_file": "core",
    "store": "core",
    "uploads_dir": "core",
    "beat_app": "coordinator",
    "coordinator": "coordinator",
    "coordinator_app": "coordinator",
    "coordinator_services": "coordinator",
    "explainer": "coordinator",
    "fleet_doctor": "coordinator",
    "generations": "coordinator",
    "profile_requests": "coordinator",
    "profile_sync": "coordinator",
    "session_queue": "coordinator",
    "tree_watcher": "coordinator",
    "builder": "drone",
    "drone_app": "drone",
    "drone_identity": "drone",
    "drone_preflight": "drone",
    "drone_transport": "drone",
    "emerge_builder": "drone",
    "bootstrap_script": "fleet",
    "drift_watch": "fleet",
    "drone_order": "fleet",
    "drone_spec": "fleet",
    "fleet_auditor": "fleet",
    "payload": "fleet",
    "provisioner": "fleet",
    "reach": "fleet",
    "rolling_deploy": "fleet",
    "select_drones": "fleet",
    "shipped": "fleet",
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
    "celery_command_config": "run",
    "celery_command_tasks": "run",
    "run_beat": "run",
    "run_coordinator_worker": "run",
    "run_drone": "run",
    "run_flower": "run",
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
    "bootstrap_script",
    "build_logs",
    "build_logs_dir",
    "builder",
    "celery_app",
    "celery_command_config",
    "celery_command_tasks",
    "check_repo",
    "config_source",
    "coordinator",
    "coordinator_app",
    "coordinator_services",
    "create_message_certificate",
    "create_signing_key",
    "drift_watch",
    "drone_app",
    "drone_identity",
    "drone_order",
    "drone_preflight",
    "drone_spec",
    "drone_tokens",
    "drone_transport",
    "durations",
    "emerge_builder",
    "emerge_prefix",
    "engine",
    "explainer",
    "fleet_auditor",
    "fleet_doctor",
    "generations",
    "hosts",
    "init_prefix",
    "inventory",
    "messenger",
    "payload",
    "plan_json",
    "profile_requests",
    "profile_sync",
    "provisioner",
    "queries",
    "reach",
    "read_saved_plan",
    "read_world",
    "request_from_options",
    "request_maker",
    "resolver",
    "rolling_deploy",
    "run_beat",
    "run_coordinator_worker",
    "run_drone",
    "run_flower",
    "scheduler_config",
    "select_drones",
    "serve_api",
    "served_signing",
    "session_queue",
    "shipped",
    "signer",
    "signing",
    "signing_key_file",
    "stop_orphans",
    "store",
    "tree_watcher",
    "uploads_dir",
]
