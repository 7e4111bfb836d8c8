"""Fakes of executables the drones run (``emerge``) for tests on a machine without Gentoo."""

from __future__ import annotations

import sys
from pathlib import Path

FAKE_EMERGE = Path(__file__).with_name("fake_emerge.py")


def install_fake_emerge(bin_dir: Path) -> Path:
    """An ``emerge`` executable in ``bin_dir`` that runs the fake with this interpreter (``exec``: same pid, same group)."""
    bin_dir.mkdir(parents=True, exist_ok=True)
    script = bin_dir / "emerge"
    script.write_text(f'#!/bin/sh\nexec "{sys.executable}" "{FAKE_EMERGE}" "$@"\n')
    script.chmod(0o755)
    return script


def fixture_repo(root: Path, name: str, entries: dict[str, str]) -> Path:
    """A repository with ``profiles/repo_name`` and md5-cache entries ``{"cat/pf": "SLOT"}``: what the fake reads SLOT from."""
    (root / "profiles").mkdir(parents=True, exist_ok=True)
    (root / "profiles" / "repo_name").write_text(name + "\n")
    for cpv, slot in entries.items():
        entry = root / "metadata" / "md5-cache" / cpv
        entry.parent.mkdir(parents=True, exist_ok=True)
        entry.write_text(f"EAPI=8\nSLOT={slot}\n")
    return root
