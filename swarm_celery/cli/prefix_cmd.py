"""`build-swarm prefix init`: a private portage prefix a drone builds in (SWARM_EMERGE_PREFIX)."""

from __future__ import annotations

from pathlib import Path

import click

from swarm_celery import bootstrap
from swarm_celery.cli.options import current_settings, emit_json
from swarm_celery.domain.config import default_profile


@click.group()
def prefix() -> None:
    """A drone's private portage prefix: real emerge on any Linux host with Python, gcc and make."""


@prefix.command(name="init")
@click.argument("eprefix", type=click.Path(path_type=Path, file_okay=False))
@click.option("--repo", "repos", multiple=True, required=True, type=click.Path(path_type=Path, exists=True, file_okay=False),
              help="An ebuild repository the drone builds from (repeat; the first holds the profile). The coordinator's trees, synced.")
@click.option("--profile", "gentoo_profile", default=None, help="The prefix's profile in the first repository (default: "
              "default/linux/<SWARM_ARCH>/23.0/systemd); each build uses its plan's.")
@click.option("--binhost", default=None, help="The binhost's base URL, above <arch>/: trust the signing key it serves "
              "(default: SWARM_BINHOST_URL without its arch; \"\" for none).")
@click.option("--fingerprint", default="", help="Trust only this key (`build-swarm binhost keygen` printed it).")
@click.option("--make-conf", "make_conf", multiple=True, metavar="NAME=value",
              help="A line for the prefix's make.conf: where and how it builds (e.g. GENTOO_MIRRORS=..., MAKEOPTS is the swarm's).")
@click.option("--json", "as_json", is_flag=True, help="Print one JSON object: the prefix and what was done.")
def init(eprefix: Path, repos: tuple[Path, ...], gentoo_profile: str | None, binhost: str | None, fingerprint: str,
         make_conf: tuple[str, ...], as_json: bool) -> None:
    """Lay out EPREFIX for a drone: portage's configuration, repositories, profile, make.conf, the swarm's signing key.

    \b
    build-swarm prefix init /var/lib/build-swarm/prefix --repo /var/db/repos/gentoo --binhost http://coordinator:8080/binhost
    then SWARM_EMERGE_PREFIX=/var/lib/build-swarm/prefix in drone.conf, and `build-swarm drone --check`
    """
    settings = current_settings()
    base = binhost if binhost is not None else settings.binhost_url.rstrip("/").removesuffix(f"/{settings.arch}")
    done = bootstrap.init_prefix(eprefix, repos, gentoo_profile or default_profile(settings.arch), binhost=base,
                                 fingerprint=fingerprint, make_conf=make_conf)
    if as_json:
        emit_json({"prefix": str(eprefix.absolute()), "done": done, "trusts_binhost": bool(base)})
        return
    for line in done:
        click.echo(line)
    if not base:
        click.echo("no binhost named: the prefix trusts no signing key, and a signed binhost's packages will be refused; "
                   "trust it with the key steps `build-swarm binhost client-config` prints (/etc/portage read as EPREFIX/etc/portage)")
    click.echo(f"next: SWARM_EMERGE_PREFIX={eprefix.absolute()} in drone.conf, then `build-swarm drone --check`")
