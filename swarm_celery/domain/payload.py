"""The payload: the build-swarm code a drone runs, named by its version and one digest of its files.

The digest is the same whether the files are read from a wheel or from an installed (or editable) package, so a
drone's hello names exactly what a deploy installed (``payload_hash``). A :class:`Payload` is what the coordinator
pushes to drones: build-swarm's wheel and, in a complete wheelhouse, every wheel it depends on. Pure.
"""

from __future__ import annotations

import hashlib
import re
from collections.abc import Iterable
from dataclasses import dataclass

PACKAGE = "swarm_celery"
DISTRIBUTION = "swarm-celery"
WHEEL = re.compile(r"swarm_celery-(?P<version>[A-Za-z0-9.+!_]+)-[A-Za-z0-9._]+-[A-Za-z0-9._]+-[A-Za-z0-9._]+\.whl")
FILE_NAME = re.compile(r"[A-Za-z0-9][A-Za-z0-9._+!-]*\.whl")


def counts(path: str) -> bool:
    """Whether a file (its path from the package's parent, ``/``-separated) is part of the payload: every file of the
    package but compiled ones."""
    parts = path.split("/")
    return parts[0] == PACKAGE and len(parts) > 1 and "__pycache__" not in parts and not path.endswith((".pyc", ".pyo"))


def payload_digest(files: Iterable[tuple[str, bytes]]) -> str:
    """sha256 over the payload's files, each as its path and the sha256 of its content, in path order."""
    lines = sorted(f"{path}\0{hashlib.sha256(data).hexdigest()}\n" for path, data in files if counts(path))
    return hashlib.sha256("".join(lines).encode()).hexdigest()


@dataclass(frozen=True, slots=True)
class Wheel:
    name: str  # the file's name in the wheelhouse
    sha256: str


@dataclass(frozen=True, slots=True)
class Payload:
    version: str  # build-swarm's version in the wheel
    digest: str  # payload_digest of its files: what the drone's hello names once it runs it
    wheel: str  # build-swarm's wheel, one of ``wheels``
    wheels: tuple[Wheel, ...]  # every file pushed to a drone
    complete: bool = False  # the wheels hold every dependency: drones install from them alone (no package index)

    @property
    def release(self) -> str:
        """The name of its release directory on a drone: version and digest (a rebuilt wheel is another release)."""
        return f"{self.version}-{self.digest[:12]}"

    @property
    def short(self) -> str:
        return f"{self.version} ({self.digest[:12]})"


def wheel_version(name: str) -> str | None:
    """The version in a build-swarm wheel's file name; None for any other file."""
    found = WHEEL.fullmatch(name)
    return found["version"] if found else None
