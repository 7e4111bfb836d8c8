"""The portage resolver adapter against the real shared Gentoo tree (real portage, one subprocess per resolve)."""

from __future__ import annotations

import graphlib
from pathlib import Path

import pytest

from swarm_celery.domain.graph import dispatch_gates, waves
from swarm_celery.domain.identity import cp_of, identity_of, slot_binding
from swarm_celery.domain.model import Plan
from swarm_celery.errors import ResolveError
from swarm_celery.resolve.adapter import PortageResolver
from swarm_celery.resolve.inputs import build_request, read_world
from tests.integration.demo_kit import cli_env, run_cli


def medium_request(shared: Path, world: tuple[str, ...] | None = None):  # type: ignore[no-untyped-def]
    gentoo = shared / "gentoo"
    atoms = world if world is not None else read_world(gentoo / "sets" / "medium.txt")
    return build_request([gentoo / "repo", gentoo / "supplement"], "default/linux/amd64/23.0/systemd", "amd64", atoms,
                         gentoo / "portage-config")


@pytest.fixture(scope="module")
def medium_plan(shared: Path, portage_cache: Path) -> Plan:
    return PortageResolver(portage_cache).resolve(medium_request(shared))


def test_medium_set_gives_359_packages(medium_plan: Plan) -> None:
    assert len(medium_plan.packages) == 359
    assert len(set(medium_plan.merge_order)) == 359
    cpvs = {p.cpv for p in medium_plan.packages}
    for name in ("app-editors/vim-", "dev-vcs/git-", "www-servers/nginx-", "sys-libs/glibc-", "sys-devel/gcc-"):
        assert any(c.startswith(name) for c in cpvs), name


def test_plan_records_slots_repos_use_and_baseline(medium_plan: Plan) -> None:
    by_cpv = medium_plan.by_cpv()
    python = next(p for c, p in by_cpv.items() if c.startswith("dev-lang/python-3"))
    assert python.slot.startswith("3.") and python.sub_slot.startswith("3.")
    assert {p.repo for p in medium_plan.packages} == {"gentoo", "supplement"}
    nginx = next(p for c, p in by_cpv.items() if c.startswith("www-servers/nginx-"))
    assert nginx.repo == "supplement"
    assert "amd64" in nginx.use
    assert len(medium_plan.baseline) > 200
    assert len(medium_plan.config_hash) == 16


def test_kept_edges_form_a_dag_that_agrees_with_merge_order(medium_plan: Plan) -> None:
    position = {c: i for i, c in enumerate(medium_plan.merge_order)}
    sorter: graphlib.TopologicalSorter[str] = graphlib.TopologicalSorter()
    for pkg in medium_plan.packages:
        sorter.add(pkg.cpv, *pkg.build_deps, *pkg.run_deps, *pkg.post_deps)
        for dep in (*pkg.build_deps, *pkg.run_deps, *pkg.post_deps):
            assert position[dep] < position[pkg.cpv]
    list(sorter.static_order())
    assert medium_plan.dropped_edges, "the medium set has real cycles; portage breaks some"
    assert all("cycle" in d.reason for d in medium_plan.dropped_edges)
    levels = waves(dispatch_gates(medium_plan), medium_plan.merge_order)
    assert 10 < len(levels) < 100 and len(levels[0]) > 50


def test_typed_edges_are_portage_s(medium_plan: Plan) -> None:
    by_cpv = medium_plan.by_cpv()
    git = next(p for c, p in by_cpv.items() if c.startswith("dev-vcs/git-"))
    assert any(d.startswith("net-misc/curl-") for d in git.build_deps + git.run_deps)
    assert sum(len(p.build_deps) for p in medium_plan.packages) > 300
    assert sum(len(p.run_deps) for p in medium_plan.packages) > 300


@pytest.mark.parametrize("atom", ["app-misc/tmux[", "tmux", "app-misc/tmux; rm -rf /", ">=app-misc/tmux"])
def test_malformed_atom_is_rejected_by_portage_parser(shared: Path, portage_cache: Path, atom: str) -> None:
    with pytest.raises(ResolveError) as info:
        PortageResolver(portage_cache).resolve(medium_request(shared, ("app-misc/tmux", atom)))
    assert info.value.kind == "invalid_atom" and info.value.atom == atom
    assert atom in str(info.value)


def test_atom_matching_nothing_is_an_error_not_a_warning(shared: Path, portage_cache: Path) -> None:
    with pytest.raises(ResolveError) as info:
        PortageResolver(portage_cache).resolve(medium_request(shared, ("app-misc/tmux", "app-misc/no-such-package")))
    assert info.value.kind == "no_match" and "app-misc/no-such-package" in str(info.value)
    assert "--repo" in str(info.value)


def test_allow_missing_drops_unknown_atoms(shared: Path, portage_cache: Path) -> None:
    plan = PortageResolver(portage_cache).resolve(
        medium_request(shared, ("app-misc/tmux", "app-misc/no-such-package")), allow_missing=True)
    assert any(p.cpv.startswith("app-misc/tmux-") for p in plan.packages)


def test_identities_and_slot_operator_bindings_on_the_gentoo_tree(medium_plan: Plan) -> None:
    assert (medium_plan.arch, medium_plan.gentoo_profile) == ("amd64", "default/linux/amd64/23.0/systemd")
    assert all(p.identity == identity_of(p, medium_plan.arch, medium_plan.gentoo_profile) for p in medium_plan.packages)
    assert len({p.identity for p in medium_plan.packages}) == 359
    slots = {slot_binding(cp_of(p.cpv), p.slot, p.sub_slot) for p in medium_plan.packages}
    bound = [d for p in medium_plan.packages for d in p.slot_deps]
    assert len(bound) > 200 and set(bound) <= slots, "every := binding names a planned package's slot/sub-slot"
    python = next(p for c, p in medium_plan.by_cpv().items() if c.startswith("dev-lang/python-3"))
    assert {"virtual/zlib", "dev-libs/openssl", "sys-libs/ncurses"} <= {d.split(":")[0] for d in python.slot_deps}


def test_an_amd64_portage_configuration_is_refused_for_an_arm64_resolve(shared: Path, tmp_path: Path) -> None:
    gentoo = shared / "gentoo"
    args = ["resolve", "--arch", "arm64", "--repo", str(gentoo / "repo"), "--world", str(gentoo / "sets" / "small.txt"),
            "--portage-config", str(gentoo / "portage-config")]
    run = run_cli(args, cli_env(tmp_path / "home", tmp_path / "cache"), timeout=120)
    assert run.code != 0
    assert run.stderr.strip() == (f"error: {gentoo / 'portage-config'}/make.conf accepts amd64 in ACCEPT_KEYWORDS, but this is "
                                  "an arm64 resolve: use a portage configuration for arm64 (ACCEPT_KEYWORDS=\"arm64\" or \"~arm64\")")
