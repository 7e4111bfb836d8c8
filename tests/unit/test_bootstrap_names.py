"""The composition root loads each part when one of its names is first used; every name it lists is there."""

from __future__ import annotations

import subprocess
import sys

import pytest

from swarm_celery import bootstrap


@pytest.mark.parametrize("name", bootstrap.__all__)
def test_every_listed_name_resolves(name: str) -> None:
    assert getattr(bootstrap, name) is not None


def test_an_unknown_name_is_an_attribute_error() -> None:
    with pytest.raises(AttributeError, match="has no attribute 'nope'"):
        bootstrap.nope  # type: ignore[attr-defined]  # noqa: B018


def test_the_world_inputs_load_no_broker_record_or_web_framework() -> None:
    """`build-swarm resolve` only pays for what it uses."""
    code = ("import sys; from swarm_celery import bootstrap; bootstrap.request_from_options; bootstrap.resolver; "
            "print(sorted(m for m in ('celery', 'sqlalchemy', 'fastapi', 'kombu') if m in sys.modules))")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True, timeout=60)
    assert out.stdout.strip() == "[]"
