"""`build-swarm bootstrap-script`: what provisioning does over SSH, as one POSIX shell script an admin runs by hand on a
host the coordinator cannot reach. It carries everything: build-swarm's wheel (base64, checked by sha256 there), the
drone.conf with the drone's token, and the service files of deploy/ for OpenRC and for systemd (the host's is picked
when it runs). The same layout and commands as :mod:`swarm_celery.domain.provision`. Pure.
"""

from __future__ import annotations

import base64
import shlex
from collections.abc import Mapping, Sequence
from dataclasses import replace

from swarm_celery.domain.payload import Payload
from swarm_celery.domain.provision import CONF, DIRECTORIES, WHEELS, install_command, service_plan, switch_command

END = "BUILD_SWARM_END_OF_FILE"


def bootstrap_script(name: str, payload: Payload, wheel: bytes, conf: str, units: Mapping[str, bytes]) -> str:
    """The script; ``units`` are deploy/'s files by their path under deploy/."""
    lines = [
        "#!/bin/sh",
        f"# build-swarm drone {name} for a host the coordinator cannot reach: copy this file there, run it as root (sh FILE).",
        f"# It installs build-swarm {payload.short} in {payload.release}, writes {CONF} with {name}'s token,",
        "# and installs, enables and starts the drone's OpenRC or systemd service. It holds the token: delete it afterwards.",
        "set -eu",
        '[ "$(id -u)" = 0 ] || { echo "run it as root" >&2; exit 1; }',
        "python3 -c 'import sys; sys.exit(sys.version_info < (3, 11))' || { echo \"build-swarm needs python3 3.11 or newer: "
        "emerge dev-lang/python\" >&2; exit 1; }",
        "if command -v rc-service >/dev/null 2>&1; then manager=openrc; elif command -v systemctl >/dev/null 2>&1; then "
        "manager=systemd; else echo \"neither OpenRC nor systemd: install the service by hand (deploy/README.md)\" >&2; exit 1; fi",
        f"mkdir -p {WHEELS} && {DIRECTORIES}",
        f"echo '== build-swarm {payload.short}'",
        *_file(f"{WHEELS}/{payload.wheel}", base64.encodebytes(wheel).decode(), decode=True),
        f"echo '{payload.wheels[0].sha256}  {WHEELS}/{payload.wheel}' | sha256sum -c --quiet -",
        f"({install_command(replace(payload, complete=False, wheels=payload.wheels[:1]))})",
        f"({switch_command(payload.release)})",
        f"echo '== {CONF}'",
        "(umask 077",
        *_file(CONF, conf),
        ")",
        *_service("openrc", name, units),
        *_service("systemd", name, units),
        f"echo '== done: drone {name} is starting; `build-swarm fleet` on the coordinator shows it once it said hello'",
    ]
    return "\n".join(lines) + "\n"


def _file(path: str, text: str, decode: bool = False) -> list[str]:
    if END in text:
        raise ValueError(f"{path} holds the line {END}: it cannot be carried in the script")
    writer = f"base64 -d > {shlex.quote(path)}" if decode else f"cat > {shlex.quote(path)}"
    return [f"{writer} <<'{END}'", text.rstrip("\n"), END]


def _service(manager: str, name: str, units: Mapping[str, bytes]) -> Sequence[str]:
    plan = service_plan(manager, name)
    body: list[str] = [f"echo '== the {manager} service {plan.service}'"]
    for source, remote, mode in plan.files:
        body += [f"mkdir -p {shlex.quote(remote.rsplit('/', 1)[0])}", *_file(remote, units[source].decode()), f"chmod {mode:o} {shlex.quote(remote)}"]
    body += [plan.enable, plan.restart]
    return [f'if [ "$manager" = {manager} ]; then', *body, "fi"]  # not indented: heredocs carry the files as they are
