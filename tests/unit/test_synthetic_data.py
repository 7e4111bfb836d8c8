"""The synthetic repository's package table is self-consistent (pure: no portage, no I/O)."""

from __future__ import annotations

import re

import pytest

from swarm_celery.domain.cpv import split_cpv
from swarm_celery.resolve.synthetic import synthetic_world
from swarm_celery.resolve.synthetic_data import (
    IMPLICIT_FLAGS,
    PACKAGES,
    SYSTEM_BASE,
    SYSTEM_LINUX,
    SYSTEM_SYSTEMD,
    WORLD,
    SyntheticPackage,
    atom_cp,
    dep_atoms,
    dep_conditionals,
    iuse_flags,
)

BY_CP = {pkg.cp: pkg for pkg in PACKAGES}
_USE_DEP = re.compile(r"\[([^\]]*)\]")


def all_deps(pkg: SyntheticPackage) -> str:
    return " ".join(pkg.dep_vars().values())


def test_cpvs_parse_and_are_unique() -> None:
    assert len(PACKAGES) == len({p.cpv for p in PACKAGES}) == len(BY_CP)
    for pkg in PACKAGES:
        parts = split_cpv(pkg.cpv)
        assert pkg.cp == f"{parts.category}/{parts.package}"
    assert 40 <= len(PACKAGES) <= 60


@pytest.mark.parametrize("pkg", PACKAGES, ids=lambda p: p.cpv)
def test_every_dependency_atom_names_a_package_in_the_table(pkg: SyntheticPackage) -> None:
    for atom in dep_atoms(all_deps(pkg)):
        assert atom_cp(atom) in BY_CP, f"{pkg.cpv}: {atom}"


@pytest.mark.parametrize("pkg", PACKAGES, ids=lambda p: p.cpv)
def test_conditionals_use_flags_in_iuse(pkg: SyntheticPackage) -> None:
    allowed = iuse_flags(pkg.iuse) | IMPLICIT_FLAGS
    for flag in dep_conditionals(all_deps(pkg)):
        assert flag in allowed, f"{pkg.cpv}: {flag}? is not in IUSE"


@pytest.mark.parametrize("pkg", PACKAGES, ids=lambda p: p.cpv)
def test_use_deps_name_flags_the_target_has_or_default(pkg: SyntheticPackage) -> None:
    for atom in dep_atoms(all_deps(pkg)):
        target = BY_CP[atom_cp(atom)]
        for group in _USE_DEP.findall(atom):
            for dep in group.split(","):
                flag = re.sub(r"^[-!]|[?=]$|\([+-]\)", "", dep)
                assert flag in iuse_flags(target.iuse) or "(" in dep, f"{pkg.cpv}: {atom}"


def test_sets_and_world_name_packages_in_the_table() -> None:
    for atom in (*WORLD, *SYSTEM_BASE, *SYSTEM_LINUX, *SYSTEM_SYSTEMD):
        assert atom_cp(atom) in BY_CP, atom
    assert synthetic_world() == list(WORLD) and 6 <= len(WORLD) <= 8
    assert 12 <= len(SYSTEM_BASE + SYSTEM_LINUX + SYSTEM_SYSTEMD) <= 16


def _edges(kinds: tuple[str, ...]) -> dict[str, set[str]]:
    return {pkg.cp: {atom_cp(a) for kind in kinds for a in dep_atoms(pkg.dep_vars()[kind])} for pkg in PACKAGES}


def _reachable(graph: dict[str, set[str]], start: str) -> set[str]:
    seen: set[str] = set()
    stack = [start]
    while stack:
        for child in graph[stack.pop()] - seen:
            seen.add(child)
            stack.append(child)
    return seen


def test_no_hard_cycle() -> None:
    """A build dep must be merged with its run-time deps first, so a cycle through a build edge is hard.

    Run-time-only cycles and PDEPEND cycles are allowed (every conditional is taken as enabled: the worst case).
    """
    build = _edges(("DEPEND", "BDEPEND"))
    needed = _edges(("DEPEND", "BDEPEND", "RDEPEND", "IDEPEND"))
    for parent, children in build.items():
        for child in children:
            assert parent not in _reachable(needed, child) and parent != child, f"hard cycle through {parent} -> {child}"


def test_the_table_has_the_features_the_resolver_must_handle() -> None:
    deps = " ".join(all_deps(p) for p in PACKAGES)
    assert "||" in deps and ":=" in deps and "?" in deps and "[" in deps and "~" in deps
    assert any(p.pdepend for p in PACKAGES) and any(p.idepend for p in PACKAGES)
    assert BY_CP["dev-libs/openssl"].slot == "0/3" and BY_CP["dev-lang/python"].slot.startswith("3.12/")
    for cp in ("dev-libs/openssl", "sys-libs/ncurses", "dev-lang/python"):
        assert re.search(rf"{cp}[-\d.]*:[\w.]*=", deps), cp
