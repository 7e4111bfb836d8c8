"""Our plan is portage's: for world sets of the shared tree on amd64 and arm64, the plan's packages are exactly what
``emerge --pretend --emptytree @world`` lists through the same portage, root and configuration, and the plan's
merge order puts every kept build dependency first (issue 3, items 3 and 9).

arm64 uses the shared portage-config with its keywords switched to arm64 (``emerge_kit.arch_config``). Composed
sets hold only packages keyworded on both arches: left out are ``sys-boot/grub`` (only a live 9999 ebuild),
``app-containers/podman``, ``crun`` and ``lxc`` (``~arch`` only), ``mail-client/s-nail`` (no arm64 keyword) and
``dev-python/pillow`` (needs ``media-libs/libjpeg-turbo:=``, absent from the tree). Every (set, arch) is resolved
once by us and once by ``emerge --verbose`` (~10 s together once the metadata cache is warm).
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import pytest

from swarm_celery.domain.identity import cp_of
from swarm_celery.domain.model import Plan
from swarm_celery.resolve.adapter import PortageResolver
from swarm_celery.resolve.inputs import read_world
from tests.integration.emerge_kit import ARCHES, EmergeResult, arch_config, emerge_pretend, request_for, set_file

COMPOSED = {
    "single": ("app-editors/nano",),
    "overlay": ("dev-db/postgresql", "sys-process/cronie", "mail-mta/nullmailer", "sys-process/htop", "app-misc/tmux"),
    "containers": ("app-containers/containerd", "app-containers/runc", "sys-boot/efibootmgr", "dev-lang/go",
                   "app-containers/docker-cli", "net-firewall/iptables"),
}
Resolved = tuple[Plan, EmergeResult]
slow = pytest.mark.slow


@pytest.fixture(scope="module")
def resolved(shared: Path, portage_cache: Path, tmp_path_factory: pytest.TempPathFactory) -> Callable[[str, str], Resolved]:
    """(set, arch) → our plan and emerge's list, each computed once per module."""
    scratch = tmp_path_factory.mktemp("configs")
    done: dict[tuple[str, str], Resolved] = {}

    def get(name: str, arch: str) -> Resolved:
        if (name, arch) not in done:
            world = COMPOSED.get(name) or read_world(set_file(shared, name))
            request = request_for(shared, arch, world, arch_config(shared, arch, scratch))
            plan = PortageResolver(portage_cache).resolve(request)  # first: it caches the baseline emerge's root needs
            done[name, arch] = plan, emerge_pretend(request, portage_cache, verbose=True)
        return done[name, arch]

    return get


def assert_same_packages(plan: Plan, emerged: EmergeResult) -> None:
    ours = {(p.cpv, p.repo) for p in plan.packages}
    theirs = set(emerged.packages)
    assert len(theirs) == len(emerged.packages), "emerge listed a package twice"
    assert ours == theirs, f"only ours: {sorted(ours - theirs)}\nonly emerge's: {sorted(theirs - ours)}"
    assert len(plan.packages) == len(ours) == len(set(plan.merge_order)) == len(plan.merge_order)
    assert set(plan.merge_order) == {p.cpv for p in plan.packages}


def assert_build_deps_first(plan: Plan) -> None:
    position = {cpv: index for index, cpv in enumerate(plan.merge_order)}
    late = [(p.cpv, dep) for p in plan.packages for dep in p.build_deps if position[dep] > position[p.cpv]]
    assert not late, f"packages planned before a kept build dependency: {late[:10]}"
    assert sum(len(p.build_deps) for p in plan.packages) > len(plan.packages) // 2, "too few build edges to mean anything"


def assert_world_planned(plan: Plan, world: tuple[str, ...]) -> None:
    planned = {cp_of(p.cpv) for p in plan.packages}
    assert {atom.lstrip("<>=~") for atom in world} <= planned


def check(resolved: Callable[[str, str], Resolved], name: str, arch: str, world: tuple[str, ...]) -> Plan:
    plan, emerged = resolved(name, arch)
    assert (plan.arch, plan.gentoo_profile) == (arch, f"default/linux/{arch}/23.0/systemd")
    assert_same_packages(plan, emerged)
    assert_build_deps_first(plan)
    assert_world_planned(plan, world)
    return plan


@pytest.mark.parametrize("arch", ARCHES)
def test_medium_set_is_emerge_s_on_both_arches(resolved: Callable[[str, str], Resolved], shared: Path, arch: str) -> None:
    plan = check(resolved, "medium", arch, read_world(set_file(shared, "medium")))
    assert len(plan.packages) > 300


def test_amd64_and_arm64_give_separate_plans(resolved: Callable[[str, str], Resolved]) -> None:
    amd64, arm64 = resolved("medium", "amd64")[0], resolved("medium", "arm64")[0]
    assert not {p.identity for p in amd64.packages} & {p.identity for p in arm64.packages}
    assert all("amd64" in p.use and "arm64" not in p.use for p in amd64.packages)
    assert all("arm64" in p.use and "amd64" not in p.use for p in arm64.packages)
    assert amd64.config_hash != arm64.config_hash


@slow
@pytest.mark.parametrize("arch", ARCHES)
@pytest.mark.parametrize("name", ["small", "server"])
def test_shipped_sets_are_emerge_s(resolved: Callable[[str, str], Resolved], shared: Path, name: str, arch: str) -> None:
    world = read_world(set_file(shared, name))
    plan = check(resolved, name, arch, world)
    assert name != "server" or (len(world) >= 30 and len(plan.packages) > len(resolved("medium", arch)[0].packages))


@slow
@pytest.mark.parametrize("arch", ARCHES)
@pytest.mark.parametrize("name", sorted(COMPOSED))
def test_composed_sets_are_emerge_s(resolved: Callable[[str, str], Resolved], name: str, arch: str) -> None:
    plan = check(resolved, name, arch, COMPOSED[name])
    if name == "overlay":
        assert {p.repo for p in plan.packages} == {"gentoo", "supplement"}
