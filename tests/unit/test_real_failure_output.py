"""classify_failure on tails real portage 3.0.83 printed: tests/realbuild/fixtures/*.log.

The fixtures are the last lines of the tail a drone reports, captured by tests/realbuild/test_real_emerge.py
(real emerge, gcc, make, wget, gpg in a private EPREFIX, which is taken out of the paths), rewritten with
``SWARM_REALBUILD_WRITE_FIXTURES=1``; that test also checks the live tails classify as these do.
"""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from swarm_celery.domain.failures import Classification, FailureKind, classify_failure

FIXTURES = Path(__file__).resolve().parents[1] / "realbuild" / "fixtures"
K = FailureKind

# What emerge prints first when the binhost has no Packages index yet (a new swarm): real output, not a failure.
NO_INDEX_YET = (
    "!!! [c76a2c79b1cf912fc8b7d1a2d91c8254] Error fetching binhost package info from 'http://127.0.0.1:43467/amd64'\n"
    "!!! [c76a2c79b1cf912fc8b7d1a2d91c8254] HTTP Error 404: File not found\n"
)


def tail(name: str) -> str:
    return (FIXTURES / f"{name}.log").read_text()


def deciding(name: str, needle: str) -> str:
    """The fixture's line holding ``needle``, stripped as the classifier reports it (the last one)."""
    return next(line.strip() for line in reversed(tail(name).splitlines()) if needle in line)


@pytest.mark.parametrize(("name", "kind", "phase", "needle"), [
    ("compile-error", K.COMPILE, "compile", "failed (compile phase):"),
    ("missing-distfile", K.FETCH, None, "Couldn't download"),
    ("unsatisfiable-dependency", K.BINHOST, None, "there are no ebuilds to satisfy"),
    ("binpkg-untrusted-key", K.BINHOST, None, "Invalid binary package"),
    ("binpkg-missing", K.BINHOST, None, "Fetch of swarm-test/libgreet-1 failed"),
])
def test_real_tails(name: str, kind: FailureKind, phase: str | None, needle: str) -> None:
    assert classify_failure(tail(name), 1) == Classification(kind, phase, deciding(name, needle))


def test_the_compile_error_is_the_packages_fault() -> None:
    why = classify_failure(tail("compile-error"), 1)
    assert not why.infrastructure
    assert why.summary() == "compile phase failed: * ERROR: swarm-test/broken-1::swarm-test failed (compile phase):"


def test_a_compile_tail_cut_before_portages_epilogue_is_still_a_compile_failure() -> None:
    text = tail("compile-error")
    cut = text[: text.index(" * ERROR:")]  # gcc's and make's lines only
    assert classify_failure(cut, 1) == Classification(K.COMPILE, None, "make: *** [Makefile:8: broken] Error 1")


def test_a_missing_binhost_index_does_not_hide_the_real_failure() -> None:
    for name, kind in (("compile-error", K.COMPILE), ("missing-distfile", K.FETCH)):
        head, _, rest = tail(name).partition("\n")
        assert classify_failure(f"{head}\n\n\n{NO_INDEX_YET}\n{rest}", 1).kind is kind


@pytest.mark.parametrize(("name", "infrastructure"), [
    ("missing-distfile", True),  # retried on another drone: a mirror may have it
    ("unsatisfiable-dependency", True),  # the coordinator resolved it: this drone's tree or the binhost differ
    ("binpkg-untrusted-key", True),  # the drone does not trust the swarm's signing key
    ("binpkg-missing", True),  # the binhost lost a file its index lists
])
def test_whose_fault(name: str, infrastructure: bool) -> None:
    assert classify_failure(tail(name), 1).infrastructure is infrastructure


def test_the_fixtures_are_drone_tails() -> None:
    for fixture in sorted(FIXTURES.glob("*.log")):
        lines = fixture.read_text().splitlines()
        assert lines[0].startswith("build-swarm: running emerge --oneshot --usepkg=y --getbinpkg=y "), fixture.name
        exited = max(i for i, line in enumerate(lines) if line.startswith("build-swarm: emerge exited with status 1 after "))
        # then, when emerge fetched in the background, the end of emerge-fetch.log (where a binary package's 404 shows)
        assert exited == len(lines) - 1 or lines[exited + 1] == "build-swarm: the end of /var/log/emerge-fetch.log:", fixture.name
        assert not re.search(r"(?<!/var)/tmp/|\.venv", fixture.read_text()), fixture.name  # no test machine paths
