"""The one rule per name and id that crosses a trust boundary (domain.names)."""

from __future__ import annotations

import fnmatch
import math

import pytest
from hypothesis import given
from hypothesis import strategies as st

from swarm_celery.domain.model import drone_node, drone_of_node, drone_queue
from swarm_celery.domain.names import (
    ATTEMPT_ID,
    check,
    check_cpv,
    check_drone_name,
    finite,
    glob_literal,
    tail,
    text,
    whole,
)


@pytest.mark.parametrize("name", ["box1", "nas.lan", "drone_2", "A-b.c_d", "x" * 63, "0"])
def test_a_drone_name_of_the_rule_is_taken(name: str) -> None:
    assert check_drone_name(name) == name


@pytest.mark.parametrize(("name", "says"), [
    ("*", "is not valid: use 1-63 letters"),
    ("box?", "is not valid"),
    ("[ab]", "is not valid"),
    ("../etc", "is not valid"),
    ("a/b", "is not valid"),
    ("a b", "is not valid"),
    ("", "is not valid"),
    ("-x", "is not valid"),
    (".hidden", "is not valid"),
    ("x" * 64, "is not valid"),
    ("box\n", "is not valid"),
    ("coordinator", "is reserved for the swarm's own processes"),
    (7, "drone name int is not valid"),
    (None, "drone name NoneType is not valid"),
])
def test_a_drone_name_off_the_rule_is_refused_saying_why(name: object, says: str) -> None:
    with pytest.raises(ValueError, match=says.replace("?", r"\?").replace("[", r"\[")):
        check_drone_name(name)


@given(st.text(max_size=80))
def test_a_name_the_rule_takes_is_safe_in_queues_paths_and_worker_patterns(name: str) -> None:
    try:
        check_drone_name(name)
    except ValueError:
        return
    assert not set(name) & set("/\\*?[] \t\n\0@:") and not name.startswith((".", "-"))
    assert drone_queue(name) == f"drone.{name}" and drone_of_node(f"{drone_node(name)}@host") == name


@given(st.text(max_size=40))
def test_a_glob_literal_matches_only_itself(name: str) -> None:
    assert fnmatch.fnmatchcase(name, glob_literal(name))
    if "*" in name or "?" in name:
        assert not fnmatch.fnmatchcase(name.replace("*", "x").replace("?", "y") + "z", glob_literal(name))


@pytest.mark.parametrize(("value", "says"), [
    (None, "attempt id is missing"),
    (12, "attempt id of type int is not valid"),
    ("../../etc", "attempt id '../../etc' is not valid"),
    ("A" * 32, "is not valid"),
    ("a" * 33, "is not valid"),
])
def test_an_attempt_id_is_32_lower_hex_digits(value: object, says: str) -> None:
    with pytest.raises(ValueError, match=says):
        check(ATTEMPT_ID, value, "attempt id")
    assert check(ATTEMPT_ID, "0123456789abcdef" * 2, "attempt id") == "0123456789abcdef" * 2


@pytest.mark.parametrize("cpv", ["../../etc/passwd-1", "-cat/pkg-1", "cat/pkg", "cat/p kg-1", "cat/pkg-1;rm", 17, "c/" + "p" * 300 + "-1"])
def test_a_cpv_that_is_no_pms_name_is_refused(cpv: object) -> None:
    with pytest.raises(ValueError, match="cpv"):
        check_cpv(cpv)


def test_a_pms_cpv_is_taken() -> None:
    assert check_cpv("dev-libs/gmp-6.3.0-r1") == "dev-libs/gmp-6.3.0-r1"
    assert check_cpv("dev-cpp/gtk+-3.24.43") == "dev-cpp/gtk+-3.24.43"


@pytest.mark.parametrize("value", [math.nan, math.inf, -1.0, 1e14, True, "x", [1], None])
def test_numbers_are_finite_and_in_range(value: object) -> None:
    with pytest.raises(ValueError, match="started_at"):
        finite(value, "started_at")


def test_whole_numbers_have_no_fraction() -> None:
    assert whole(3.0, "slots", 1, 64) == 3 and finite("2.5", "x") == 2.5
    with pytest.raises(ValueError, match=r"slots 1\.5 is not a whole number"):
        whole(1.5, "slots", 1, 64)
    with pytest.raises(ValueError, match="out of range"):
        whole(65, "slots", 1, 64)


def test_text_is_bounded_and_a_tail_keeps_the_end() -> None:
    assert text(None, "error", 10) == "" and text("short", "error", 10) == "short"
    for bad in ("x" * 11, "a\0b", 5):
        with pytest.raises(ValueError, match="error"):
            text(bad, "error", 10)
    assert tail("0123456789abc", "log", 3) == "abc" and tail("a\0b", "log", 10) == "ab"
