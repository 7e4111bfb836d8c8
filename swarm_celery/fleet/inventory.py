"""The fleet inventory file (SWARM_FLEET_FILE) as provisioning edits it: its ``[drones.NAME]`` tables, set one at a time,
the rest of the file (comments, other tables) kept as it is. The :class:`~swarm_celery.ports.Inventory` port."""

from __future__ import annotations

import fcntl
import os
import tempfile
import tomllib
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from pathlib import Path

from swarm_celery.domain.fleet import DroneHost, parse_hosts
from swarm_celery.domain.provision import inventory_table, with_table
from swarm_celery.errors import ConfigError


class InventoryFile:
    def __init__(self, path: Path) -> None:
        self.path = path

    def _text(self) -> str:
        try:
            return self.path.read_text() if self.path.exists() else ""
        except OSError as exc:
            raise ConfigError(f"cannot read the fleet inventory {self.path}: {exc.strerror}") from None

    def defaults(self) -> dict[str, object]:
        try:
            table = tomllib.loads(self._text()).get("defaults", {})
        except tomllib.TOMLDecodeError as exc:
            raise ConfigError(f"{self.path}: not valid TOML: {exc}") from None
        return dict(table) if isinstance(table, dict) else {}

    def drones(self) -> dict[str, DroneHost]:
        text = self._text()
        if not text.strip():
            return {}
        try:
            return parse_hosts(text, str(self.path))[0]
        except ValueError as exc:
            raise ConfigError(str(exc)) from None

    def save(self, name: str, values: Mapping[str, str | int]) -> bool:
        """Set ``[drones.NAME]``; provisions running at once (one process each) take turns, so none is lost."""
        with self._locked():
            before = self._text()
            after = with_table(before, name, inventory_table(name, values))
            if after == before:
                return False
            try:
                parse_hosts(after, str(self.path))
            except ValueError as exc:
                raise ConfigError(f"{exc} (after adding [drones.{name}]): fix the file by hand") from None
            self._replace(after)
        return True

    @contextmanager
    def _locked(self) -> Iterator[None]:
        lock = self.path.with_name(f".{self.path.name}.lock")
        try:
            with lock.open("a") as held:
                fcntl.flock(held, fcntl.LOCK_EX)
                yield
        except OSError as exc:
            raise ConfigError(f"cannot write the fleet inventory {self.path}: {exc.strerror}") from None

    def _replace(self, text: str) -> None:
        """Write ``text`` beside the file under a name of this process's own, then rename it over the file."""
        handle, partial = tempfile.mkstemp(prefix=f".{self.path.name}.", suffix=".partial", dir=self.path.parent)
        try:
            with os.fdopen(handle, "w") as out:
                out.write(text)
            os.chmod(partial, self.path.stat().st_mode & 0o777 if self.path.exists() else 0o644)
            os.replace(partial, self.path)
        except BaseException:
            Path(partial).unlink(missing_ok=True)
            raise
