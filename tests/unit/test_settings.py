"""Settings are declared once: reading, writing for a child process, drone.conf keys and docs/settings.md come from it."""

from __future__ import annotations

import typing
from dataclasses import fields
from pathlib import Path

import pytest

from swarm_celery.errors import ConfigError
from swarm_celery.settings import Settings, declared, settings_table

ROOT = Path(__file__).resolve().parents[2]


def changed(name: str, kind: str, default: object) -> object:
    """A value of the field's type that differs from its default and survives the environment's text."""
    return {
        "str": f"changed-{name}", "int": 7 if default != 7 else 8, "float": 0.125 if default != 0.125 else 0.25, "bool": not default,
        "Path": Path(f"/changed/{name}"), "Path | None": Path(f"/changed/{name}"), "tuple[str, ...]": ("a/b", "infra:c/d"),
    }[kind]


def test_every_field_changed_survives_the_round_trip_through_the_environment() -> None:
    values = {f.name: changed(f.name, str(f.type), f.default) for f in fields(Settings)}
    settings = Settings(**values)  # type: ignore[arg-type]
    assert all(getattr(settings, f.name) != f.default for f in fields(Settings))
    assert Settings.from_env(settings.to_env()) == settings
    assert Settings.from_env(Settings().to_env()) == Settings()


def test_every_field_is_declared_once_with_a_variable_help_and_a_known_type() -> None:
    specs = [spec for _, spec in declared()]
    assert len({s.env for s in specs}) == len(specs) == len(fields(Settings))
    assert all(s.env.startswith("SWARM_") and s.help for s in specs)
    hints = typing.get_type_hints(Settings)
    assert {str(f.type) for f in fields(Settings)} <= {"str", "int", "float", "bool", "Path", "Path | None", "tuple[str, ...]"}
    assert len(hints) == len(fields(Settings))


def test_empty_means_default_and_bad_numbers_name_the_variable() -> None:
    assert Settings.from_env({"SWARM_ARCH": "", "SWARM_SLOTS": ""}) == Settings()
    settings = Settings.from_env({"SWARM_COORDINATOR_URL": "http://coord:8080/", "SWARM_DRONE_PAUSED": "Yes", "SWARM_SLOTS": "2.0",
                                  "SWARM_REPO": "~/gentoo", "SWARM_SIMULATE_FAIL": " a/b, ,infra:*"})
    assert settings.coordinator_url == "http://coord:8080" and settings.start_paused and settings.slots == 2
    assert settings.repo == Path("~/gentoo").expanduser() and settings.simulate_fail == ("a/b", "infra:*")
    with pytest.raises(ConfigError, match=r"SWARM_LEASE='soon' is not a number"):
        Settings.from_env({"SWARM_LEASE": "soon"})


def test_the_settings_reference_is_current() -> None:
    """docs/settings.md is `build-swarm settings --markdown`: regenerate it when a setting changes."""
    assert (ROOT / "docs" / "settings.md").read_text() == settings_table()
