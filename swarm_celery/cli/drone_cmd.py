"""`build-swarm drone`: run this machine as a drone, configured by drone.conf and SWARM_* variables."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import click

from swarm_celery import bootstrap
from swarm_celery.cli import fleet_ops_cmd
from swarm_celery.cli.options import emit_json, invocation
from swarm_celery.cli.worker_cmd import start_drone
from swarm_celery.domain.audit import Status
from swarm_celery.domain.model import DroneIdentity, build_queue, drone_queue
from swarm_celery.domain.urls import without_password
from swarm_celery.errors import CheckFailed
from swarm_celery.settings import DRONE_CONF, Settings, drone_conf_path, read_conf


@click.group(invoke_without_command=True)
@click.option("--config", "config_path", type=click.Path(dir_okay=False, path_type=Path), default=None, envvar="SWARM_DRONE_CONF",
              help=f"drone.conf with SWARM_*=value lines (default: $SWARM_DRONE_CONF, else {DRONE_CONF.parent}/drone-NAME.conf, "
                   f"else {DRONE_CONF}, the first that exists).")
@click.option("--name", default=None, help="Drone name (default: SWARM_DRONE_NAME, else the host name).")
@click.option("--check", is_flag=True, help="Show what this drone would announce and how it would build, check the broker, the "
                                             "coordinator's URL and this drone's token over the network, then exit (1 if one fails).")
@click.option("--json", "as_json", is_flag=True, help="With --check: one JSON object.")
@click.option("--loglevel", default="INFO", show_default=True)
@click.pass_context
def drone(ctx: click.Context, config_path: Path | None, name: str | None, check: bool, as_json: bool, loglevel: str) -> None:
    """Run this machine as a drone: a Celery worker on build.<arch> and drone.<name>, one process per build slot.

    Variables in the environment override drone.conf. A drone holds no database credentials. On the coordinator,
    `provision`, `deploy` and `audit` act on drone hosts over SSH (SWARM_FLEET_FILE).

    \b
    build-swarm drone --check                 # what it would announce, its builder, and broker, coordinator and token checked
    build-swarm drone --config ./drone.conf   # run in the foreground (an OpenRC/systemd service runs this)
    build-swarm drone provision 10.0.0.11 --name box1    # on the coordinator: make that host a drone
    """
    if ctx.invoked_subcommand is not None:
        return
    conf = config_path or drone_conf_path(name or invocation().environ.get("SWARM_DRONE_NAME", ""))
    values = read_conf(conf) if conf else {}
    # nothing on a drone can reach the store or act as the admin
    settings = invocation().settings_with(values).with_(database_url="", sql_database_url="", api_token="")
    if name:
        settings = settings.with_(drone_name=name)
    bootstrap.builder(settings)  # a bad builder or upload setting (no emerge, no binhost URL, no token) fails here
    bootstrap.drone_transport(settings)
    if check:
        _show(settings, conf, as_json)
        return
    start_drone(settings, loglevel)


def _show(settings: Settings, conf: Path | None, as_json: bool) -> None:
    me = bootstrap.drone_identity(settings)
    queues = [build_queue(me.arch), drone_queue(me.name)]
    checks = bootstrap.drone_preflight(settings)
    failed = [c for c in checks if c.status == Status.FAIL]
    report: dict[str, object] = {"identity": me.to_json(), "queues": queues, "config": str(conf) if conf else None,
                                 "broker": without_password(settings.broker_url), "builder": settings.builder,
                                 "checks": [c.to_json() for c in checks], "ok": not failed}
    if settings.builder == "emerge":
        report |= {"binhost": settings.binhost_url, "pkgdir": str(settings.pkgdir), "build_timeout": settings.build_timeout,
                   "min_free_mb": settings.min_free_mb, "logs": str(settings.logs_dir / "builds"), "prefix": None}
    if settings.builder == "emerge" and settings.emerge_prefix is not None:
        prefix = bootstrap.emerge_prefix(settings).check().to_json()
        prefix["configurations"] = (f"{settings.coordinator_url}/api/v1/build-configs/" if settings.coordinator_url
                                    else f"{settings.build_configs_dir}/")
        report |= {"pkgdir": prefix["pkgdir"], "prefix": prefix}
    if as_json:
        emit_json(report)
    else:
        _describe(settings, me, report)
    if failed:
        raise CheckFailed(f"{len(failed)} of {len(checks)} checks failed ({', '.join(c.name for c in failed)}): fix what they say, "
                        "then run `build-swarm drone --check` again")


def _describe(settings: Settings, me: DroneIdentity, report: dict[str, Any]) -> None:
    click.echo(f"drone {me.name} ({me.arch}): {me.cores} cores, {me.memory_mb} MiB memory, {me.disk_free_mb} MiB free, {me.slots} slots")
    click.echo(f"  tree {me.tree_timestamp or 'unknown (no metadata/timestamp.chk)'}; profile {me.gentoo_profile or 'unknown (no make.profile)'}; "
               f"build-swarm {me.payload_version}")
    click.echo(f"  queues {', '.join(report['queues'])} on {report['broker']}; config {report['config'] or 'environment only'}")
    click.echo(f"  builder {settings.builder}" + (f": binhost {settings.binhost_url}, PKGDIR {report['pkgdir']}, timeout "
                                                  f"{settings.build_timeout:.0f} s, needs {settings.min_free_mb} MiB free"
                                                  if settings.builder == "emerge" else ""))
    found = report.get("prefix")
    if isinstance(found, dict):
        _show_prefix(found)
    for check in report["checks"]:
        click.echo(f"  {check['check']:<12} {check['status']}  {check['message']}")


def _show_prefix(prefix: dict[str, object]) -> None:
    repos = prefix["repos"] if isinstance(prefix["repos"], dict) else {}
    make_conf = prefix["make_conf"] if isinstance(prefix["make_conf"], list) else []
    click.echo(f"  prefix {prefix['prefix']}: {prefix['portage']}")
    click.echo(f"    profile {prefix['profile']} ({prefix['arch']}, {prefix['chost']}); {prefix['compiler']}; {prefix['make']}")
    click.echo(f"    repositories {', '.join(f'{name} {path}' for name, path in repos.items())}")
    click.echo(f"    make.conf sets {', '.join(str(m) for m in make_conf)}; PORTAGE_TMPDIR {prefix['portage_tmpdir']}")
    click.echo(f"    each build: its plan's profile, make.conf and package.* from {prefix['configurations']}<hash>")


drone.add_command(fleet_ops_cmd.provision)
drone.add_command(fleet_ops_cmd.deploy)
drone.add_command(fleet_ops_cmd.audit)
