"""The fleet inventory file (SWARM_FLEET_FILE) as provisioning edits it: its ``[drones.NAME]`` tables, set one at a time,
the rest of the file (comments, other tables) kept as it is. The :class:`~swarm_celery.ports.Inventory` port."""

from __future__ import annotations

import os
import tomllib
from collections.abc import Mapping
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
        before = self._text()
        after = with_table(before, name, inventory_table(name, values))
        if after == before:
            return False
        try:
            parse_hosts(after, str(self.path))
        except ValueError as exc:
            raise ConfigError(f"{exc} (after adding [drones.{name}]): fix the file by hand") from None
        partial = self.path.with_name(self.path.name + ".partial")
        partial.write_text(after)
        if self.path.exists():
            os.chmod(partial, self.path.stat().st_mode & 0o777)
        os.replace(partial, self.path)
        return True
