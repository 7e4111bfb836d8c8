"""The resolver subprocess protocol: plan JSON round trip, typed errors, crash reporting."""

from __future__ import annotations

import json

import pytest

from swarm_celery.domain.model import DroppedEdge, EdgeKind
from swarm_celery.errors import ResolveError
from swarm_celery.resolve.adapter import _parse_output, plan_from_json, plan_to_json
from swarm_celery.resolve.runner import _resolve_failure
from tests.coordinator_kit import PLAN


def test_plan_json_round_trip() -> None:
    plan = PLAN.__class__(
        packages=PLAN.packages, merge_order=PLAN.merge_order, baseline=("sys-libs/glibc-2.41",), config_hash="abc",
        dropped_edges=(DroppedEdge("sys-libs/base-1", "app-misc/app-1", EdgeKind.RUN, "cycle broken by portage"),),
    )
    assert plan_from_json(json.loads(json.dumps(plan_to_json(plan)))) == plan


def test_typed_error_from_the_runner_becomes_a_resolve_error() -> None:
    out = json.dumps({"error": {"kind": "no_match", "message": "atom 'a/b' matches no ebuild", "atom": "a/b", "details": "x"}})
    with pytest.raises(ResolveError) as info:
        _parse_output(3, out, "")
    assert (info.value.kind, info.value.atom, info.value.details) == ("no_match", "a/b", "x")


def test_a_crashed_runner_is_reported_with_its_last_words() -> None:
    with pytest.raises(ResolveError, match=r"crashed \(exit 1\): MemoryError") as info:
        _parse_output(1, "", "Traceback (most recent call last):\n  ...\nMemoryError")
    assert info.value.kind == "crash"


def test_portage_problem_text_gives_a_one_line_headline() -> None:
    text = "\nCalculating dependencies... done!\n\n!!! All ebuilds that could satisfy \"dev-libs/foo\" have been masked.\n!!! One of the following masked packages is required\n"
    error = _resolve_failure(text)
    assert error.message.startswith('portage cannot resolve @world: All ebuilds that could satisfy "dev-libs/foo" have been masked.')
    assert "\n" not in error.message and error.details == text
