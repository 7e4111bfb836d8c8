"""Fixtures of the unit tests."""

from __future__ import annotations

from pathlib import Path

import pytest

from tests.coordinator_kit import World, make_world


@pytest.fixture
def world(tmp_path: Path) -> World:
    """The Coordinator service on a real SQLite store (session s1, drone-1) with fake ports."""
    return make_world(tmp_path)
