"""Fleet settings (SWARM_FLEET_FILE, SWARM_PROBE_EVERY, ...) and reading the inventory at the composition root."""

from __future__ import annotations

from pathlib import Path

import pytest

from swarm_celery import bootstrap
from swarm_celery.errors import ConfigError
from swarm_celery.settings import Settings


def test_fleet_settings_come_from_the_environment_and_go_back() -> None:
    env = {"SWARM_FLEET_FILE": "/etc/build-swarm/fleet.toml", "SWARM_PROBE_EVERY": "15", "SWARM_HEAL_COOLDOWN": "60",
           "SWARM_HEAL_GRACE": "30", "SWARM_STUCK_AFTER": "7200", "SWARM_TREE_SLACK": "600", "SWARM_SSH_TIMEOUT": "4",
           "SWARM_ALERT_WEBHOOK": "https://hooks.example/swarm"}
    settings = Settings.from_env(env)
    assert settings.fleet_file == Path("/etc/build-swarm/fleet.toml") and settings.probe_every == 15.0
    assert (settings.heal_grace, settings.heal_cooldown, settings.stuck_after, settings.tree_slack) == (30.0, 60.0, 7200.0, 600.0)
    again = Settings.from_env(settings.to_env())
    assert (again.fleet_file, again.probe_every, again.heal_grace, again.heal_cooldown, again.stuck_after, again.tree_slack,
            again.ssh_timeout, again.alert_webhook) == (settings.fleet_file, 15.0, 30.0, 60.0, 7200.0, 600.0, 4.0, settings.alert_webhook)
    assert Settings.from_env({}).fleet_file is None and Settings.from_env({}).probe_every == 60.0


def test_no_inventory_means_no_ssh_probes() -> None:
    assert bootstrap.inventory(Settings()) == {}


def test_an_unreadable_or_bad_inventory_is_a_config_error_saying_what_to_fix(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match=r"cannot read the fleet inventory .*missing.toml: No such file .*SWARM_FLEET_FILE"):
        bootstrap.inventory(Settings(fleet_file=tmp_path / "missing.toml"))
    bad = tmp_path / "fleet.toml"
    bad.write_text('[drones.nas]\nhost = "nas.lan"\nport = "ssh"\n')
    with pytest.raises(ConfigError, match=r"fleet.toml: drone 'nas': port = 'ssh' should be a number"):
        bootstrap.inventory(Settings(fleet_file=bad))


def test_beat_schedules_the_fleet_probe() -> None:
    app = bootstrap.beat_app(Settings(broker_url="redis://127.0.0.1:6379/0", probe_every=15))
    entry = app.conf.beat_schedule["probe_fleet"]
    assert entry["task"] == "swarm.probe_fleet" and entry["schedule"] == 15 and entry["options"]["queue"] == "periodic"
    assert app.conf.task_routes["swarm.probe_fleet"] == {"queue": "periodic"}
