"""`build-swarm binhost keygen | client-config`: the signing key, and what a client machine needs to trust the binhost.

The generation commands (``generations``, ``publish``, ``rollback``, ...) are in :mod:`.generations_cmd`.
"""

from __future__ import annotations

import socket

import click

from swarm_celery import bootstrap
from swarm_celery.cli.generations_cmd import COMMANDS
from swarm_celery.cli.options import JSON_HELP, current_settings, emit_json


@click.group()
def binhost() -> None:
    """The binhost: its signing key, the client configuration, and the generations clients are served."""


for _command in COMMANDS:
    binhost.add_command(_command)


@binhost.command()
@click.option("--name", default=None, help="The key's user id (default: build-swarm binhost <swarm@HOST>).")
@click.option("--json", "as_json", is_flag=True, help=JSON_HELP)
def keygen(name: str | None, as_json: bool) -> None:
    """Create the binhost's signing key (ed25519, no passphrase: the coordinator signs unattended) in SWARM_GPG_HOME."""
    settings = current_settings()
    home = settings.gnupg
    uid = name or f"build-swarm binhost <swarm@{socket.gethostname()}>"
    fingerprint = bootstrap.create_signing_key(settings, uid).fingerprint()
    if as_json:
        emit_json({"fingerprint": fingerprint, "uid": uid, "gpg_home": str(home)})
        return
    click.echo(f"SWARM_SIGNING_KEY={fingerprint}")
    click.echo(f"# created in {home}; set the line above for the coordinator, then `build-swarm binhost client-config`", err=True)


@binhost.command(name="client-config")
@click.option("--url", default=None, help="The binhost's base URL as clients reach it (default: SWARM_BINHOST_URL, "
                                          "else http://<this host>:<SWARM_API_PORT>/binhost).")
@click.option("--arch", default="amd64", show_default=True, type=click.Choice(["amd64", "arm64"]))
@click.option("--profile", default="", help="A build profile: its published generation and the tree it was built from "
                                            "(repos.conf too), instead of the staging tree drones read.")
@click.option("--json", "as_json", is_flag=True, help=JSON_HELP)
def client_config(url: str | None, arch: str, profile: str, as_json: bool) -> None:
    """Print /etc/portage/binrepos.conf/build-swarm.conf (and with --profile repos.conf) for a client, and how to trust
    the signing key."""
    settings = current_settings()
    base = (url or settings.binhost_url or f"http://{socket.getfqdn()}:{settings.api_port}/binhost").rstrip("/")
    base = base.removesuffix(f"/{arch}")
    served = bootstrap.served_signing(settings, arch, base)
    uri, repos_conf, generation = f"{base}/{arch}", "", ""
    if profile:
        view, repo = bootstrap.generations(settings).served(profile, arch)
        uri, generation = f"{base}/generations/{profile}/{arch}/current", str(view.generation.ref)
        repos_conf = (f"[{repo}]\nlocation = /var/db/repos/{repo}\nsync-type = zipfile\nsync-uri = {uri}/tree.zip\n"
                      "auto-sync = yes\n") if repo else ""
    conf = f"[build-swarm]\npriority = 9999\nsync-uri = {uri}\nverify-signature = {'true' if served.signed else 'false'}\n"
    key_file = bootstrap.signing_key_file()
    steps = key_steps(base, key_file, served.fingerprint) if served.signed else []
    if as_json:
        emit_json({"binrepos_conf": conf, "repos_conf": repos_conf, "generation": generation, "signed": served.signed,
                   "fingerprint": served.fingerprint, "key_url": f"{base}/{key_file}" if served.signed else None,
                   "key_steps": steps, "found_by": served.why})
        return
    if repos_conf:
        click.echo(f"# /etc/portage/repos.conf/build-swarm.conf: the tree generation {generation} was built from")
        click.echo(repos_conf)
    click.echo("# /etc/portage/binrepos.conf/build-swarm.conf" + (f": generation {generation}" if generation else ""))
    click.echo(conf)
    if served.signed:
        click.echo(f"# trust the binhost's signing key {served.fingerprint} ({served.why}), as root on the client:")
        click.echo("\n".join(steps))
        click.echo("# then: emerge --getbinpkg ... (FEATURES=binpkg-request-signature makes signatures mandatory)")
    else:
        click.echo(f"# the binhost is not signed ({served.why}): set SWARM_SIGNING_KEY on the coordinator "
                   "(`build-swarm binhost keygen`)")


def key_steps(base: str, key_file: str, fingerprint: str) -> list[str]:
    """The commands that make a client's portage trust the binhost's key."""
    return [
        "mkdir -p /etc/portage/gnupg",
        f"curl -fsS {base}/{key_file} | gpg --homedir /etc/portage/gnupg --batch --import",
        f"echo '{fingerprint}:6:' | gpg --homedir /etc/portage/gnupg --batch --import-ownertrust",
        "gpg --homedir /etc/portage/gnupg --batch --check-trustdb  # portage verifies with --no-auto-check-trustdb",
        "chmod 0755 /etc/portage/gnupg && chmod 0644 /etc/portage/gnupg/pubring.kbx /etc/portage/gnupg/trustdb.gpg"
        "  # portage verifies as nobody (GPG_VERIFY_USER_DROP), as getuto sets it up",
    ]
