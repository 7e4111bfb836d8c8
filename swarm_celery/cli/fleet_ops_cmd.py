"""`build-swarm drone provision|deploy|audit` (drone hosts over SSH, from the coordinator) and `build-swarm bootstrap-script`."""

from __future__ import annotations

from pathlib import Path

import click

from swarm_celery import bootstrap
from swarm_celery.cli.options import current_settings, emit_json
from swarm_celery.domain.fleet import DRONE_TYPES
from swarm_celery.domain.names import check_drone_name
from swarm_celery.errors import CheckFailed, UserError
from swarm_celery.services.audit import DroneAudit

WHEEL = click.option("--wheel", type=click.Path(dir_okay=False, exists=True, path_type=Path), default=None,
                     help="The build-swarm wheel to install (default: this coordinator's own version, from SWARM_WHEELHOUSE).")
WAIT = click.option("--wait", default=120.0, show_default=True, help="Seconds to wait for the drone's hello after its start.")


def _name(name: str) -> str:
    try:
        return check_drone_name(name)
    except ValueError as exc:
        raise UserError(f"--name: {exc}") from None


def _settings_pairs(values: tuple[str, ...]) -> list[tuple[str, str]]:
    pairs = []
    for value in values:
        key, sep, setting = value.partition("=")
        if not sep or not key.startswith("SWARM_"):
            raise UserError(f"--set {value!r}: give SWARM_NAME=value (a setting of drone.conf, see docs/settings.md)")
        pairs.append((key, setting))
    return pairs


def _drone_options(func: click.decorators.FC) -> click.decorators.FC:
    for option in reversed([
        click.option("--name", required=True, help="The drone's name: its queue is drone.NAME."),
        click.option("--arch", default="amd64", show_default=True, help="Gentoo's name of the host's arch."),
        click.option("--builder", type=click.Choice(["emerge", "simulate"]), default="emerge", show_default=True,
                     help="How it builds (simulate: pretend builds, labelled as such)."),
        click.option("--set", "extra", multiple=True, metavar="SWARM_NAME=value", help="Another line for its drone.conf (repeatable)."),
        WHEEL,
    ]):
        func = option(func)
    return func


@click.command()
@click.argument("host")
@_drone_options
@click.option("--type", "kind", type=click.Choice(DRONE_TYPES), default="bare-metal", show_default=True,
              help="What the host is: only LXC and QEMU guests are ever rebooted by the healing ladder.")
@click.option("--port", type=click.IntRange(1, 65535), default=None, help="SSH port (default: the inventory's, else 22).")
@WAIT
@click.option("--json", "as_json", is_flag=True, help="One JSON object: what changed.")
def provision(host: str, name: str, arch: str, builder: str, extra: tuple[str, ...], wheel: Path | None, kind: str, port: int | None,
              wait: float, as_json: bool) -> None:
    """Make HOST a drone: build-swarm in a venv, drone.conf with a new token, its OpenRC or systemd service, a hello.

    It connects as the fleet inventory's [defaults] say (SWARM_FLEET_FILE: user, key_file, known_hosts) and adds
    the drone there. Run it again and nothing changes.
    """
    settings = current_settings()
    name = _name(name)
    provisioner = bootstrap.provisioner(settings, wheel, hello_timeout=wait)
    order = bootstrap.drone_order(settings, name, host, port=port, kind=kind, arch=arch, builder=builder, extra=_settings_pairs(extra))
    done = provisioner.provision(order, progress=lambda line: click.echo(line, err=True))
    if as_json:
        emit_json(done.to_json())
    elif done.changed:
        click.echo(f"{name} ({host}): build-swarm {provisioner.installer.payload.short} on {done.manager}, said hello; changed: "
                   f"{', '.join(done.changed)}")
    else:
        click.echo(f"{name} ({host}): nothing to change: build-swarm {provisioner.installer.payload.short} runs there and said hello")


@click.command()
@click.argument("names", nargs=-1)
@click.option("--all", "every", is_flag=True, help="Every drone of the fleet inventory, in name order.")
@WHEEL
@click.option("--drain-timeout", default=3600.0, show_default=True, help="Seconds a paused drone's running builds may take before "
                                                                          "the restart stops them (they are placed again).")
@WAIT
@click.option("--json", "as_json", is_flag=True, help="One JSON list: each drone's outcome.")
def deploy(names: tuple[str, ...], every: bool, wheel: Path | None, drain_timeout: float, wait: float, as_json: bool) -> None:
    """Upgrade the drones' build-swarm, one drone at a time: pause, drain, switch, restart, hello, resume.

    A failure stops the roll and puts that drone back on the release it ran.
    """
    settings = current_settings()
    hosts = bootstrap.select_drones(settings, names, every)
    deployer = bootstrap.rolling_deploy(settings, wheel, drain_timeout=drain_timeout, hello_timeout=wait)
    done = deployer.roll(hosts, progress=lambda line: click.echo(line, err=True))
    if as_json:
        emit_json([d.to_json() for d in done])
        return
    for d in done:
        click.echo(f"{d.drone}: {d.outcome} {d.before or '(no hello before)'} → {d.after}" + ("" if d.drained else " (drain timed out)"))


@click.command()
@click.argument("names", nargs=-1)
@click.option("--json", "as_json", is_flag=True, help="One JSON list: each drone's checks.")
def audit(names: tuple[str, ...], as_json: bool) -> None:
    """Check drone hosts against the golden drone spec over SSH: PASS, WARN or FAIL per check; exit 0, 1 or 2."""
    settings = current_settings()
    auditor = bootstrap.fleet_auditor(settings)
    if not auditor.inventory:
        raise UserError("no drones to audit: set SWARM_FLEET_FILE to the fleet inventory (`build-swarm drone provision` fills it)")
    audits = auditor.audit(names, progress=None if as_json else _show)
    code = max((a.code for a in audits), default=0)
    if as_json:
        emit_json([a.to_json() for a in audits])
    if code:
        worst = "FAIL" if code == 2 else "WARN"
        which = ", ".join(a.drone for a in audits if a.code == code)
        raise CheckFailed(f"{worst} on {which}: see the checks above", exit_code=code)


def _show(found: DroneAudit) -> None:
    click.echo(f"{found.drone}: {('PASS', 'WARN', 'FAIL')[found.code]}")
    for check in found.checks:
        click.echo(f"  {check.status.value:<5} {check.name:<12} {check.message}")


@click.command(name="bootstrap-script")
@_drone_options
@click.option("--json", "as_json", is_flag=True, help="One JSON object: the drone's name and the script.")
def bootstrap_script(name: str, arch: str, builder: str, extra: tuple[str, ...], wheel: Path | None, as_json: bool) -> None:
    """Print a script that makes a host the coordinator cannot reach a drone, run there by hand as root.

    It carries build-swarm's wheel, a drone.conf with a new token for NAME (an old one stops working: keep the script
    like a password), and the OpenRC and systemd services of deploy/.

    \b
    build-swarm bootstrap-script --name box9 > box9.sh    # copy box9.sh to the host; there: sh box9.sh
    """
    script = bootstrap.bootstrap_script(current_settings(), _name(name), arch, builder, _settings_pairs(extra), wheel)
    if as_json:
        emit_json({"drone": name, "script": script})
    else:
        click.echo(script, nl=False)
    click.echo(f"# the script holds {name}'s new token: keep it like a password and delete it once it ran", err=True)
