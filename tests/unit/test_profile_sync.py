"""A profile's sessions build only what changed by identity: the coordinator on a real SQLite store, fake ports."""

from __future__ import annotations

from dataclasses import replace

from swarm_celery.domain.model import Plan, PlannedPackage
from swarm_celery.store.queries import Queries
from tests.coordinator_kit import PLAN, REQUEST, World, success


def with_identities(plan: Plan, **changed: str) -> Plan:
    """Every package's identity is its name, unless ``changed`` gives another (keyed by the package name)."""
    def ident(p: PlannedPackage) -> str:
        name = p.cpv.split("/")[1].rsplit("-", 1)[0]
        return changed.get(name, f"id-{name}")
    return replace(plan, packages=tuple(replace(p, identity=ident(p)) for p in plan.packages), arch="amd64",
                   gentoo_profile=REQUEST.gentoo_profile)


def run_session(world: World, session: str, plan: Plan, reuse: bool = True, profile: str = "desk",
                simulated: bool = True) -> dict[str, dict[str, object]]:
    """Plan a session of ``profile`` ("" = none, as `queue add` makes), build everything it sends, return its packages."""
    world.resolver.plan = plan
    world.store.create_session(session, REQUEST, simulated=simulated, build_profile=profile, reuse=reuse)
    world.coordinator.plan(session)
    while sent := world.dispatcher.take():
        for request in sent:
            world.coordinator.build_finished(success(request))
    return {str(p.cpv): p for p in Queries(world.store.engine).packages(session)}


def test_the_first_sync_builds_everything_the_next_nothing_then_only_what_changed(world: World) -> None:
    first = run_session(world, "p1", with_identities(PLAN))
    assert {p.change for p in first.values()} == {"new in this profile"}
    assert len(world.publisher.published) == 5
    second = run_session(world, "p2", with_identities(PLAN))
    assert {p.change for p in second.values()} == {"unchanged: published already with the same identity"}
    assert {p.state for p in second.values()} == {"published"} and len(world.publisher.published) == 5
    assert Queries(world.store.engine).session("p2").state == "complete"  # type: ignore[union-attr]
    lib = replace(next(p for p in PLAN.packages if p.cpv == "dev-libs/lib-1"), use=("ssl", "zstd"), identity="id-lib-2")
    changed = with_identities(replace(PLAN, packages=tuple(lib if p.cpv == lib.cpv else p for p in PLAN.packages)),
                              lib="id-lib-2", app="id-app-2")  # app binds lib with := : its identity moved with lib's
    third = run_session(world, "p3", changed)
    built = {cpv for cpv, p in third.items() if p.change != "unchanged: published already with the same identity"}
    assert built == {"dev-libs/lib-1", "app-misc/app-1"}
    assert third["dev-libs/lib-1"].change == "changed: USE +zstd"
    assert world.publisher.published[5:] == ["dev-libs/lib-1", "app-misc/app-1"]  # lib first: app waited for it


def test_a_full_sync_builds_everything_but_still_says_why(world: World) -> None:
    run_session(world, "p1", with_identities(PLAN))
    again = run_session(world, "p2", with_identities(PLAN, tool="id-tool-2"), reuse=False)
    assert {str(p.state) for p in again.values()} == {"published"} and len(world.publisher.published) == 10
    assert again["app-misc/tool-1"].change == "changed: identity inputs differ in a way this version does not record " \
                                                 "(identity scheme changed?)"
    assert again["sys-libs/base-1"].change == ""


def test_sessions_of_other_profiles_or_none_are_not_compared(world: World) -> None:
    run_session(world, "p1", with_identities(PLAN))
    world.store.create_session("other", REQUEST, simulated=True, build_profile="server", reuse=True)
    world.resolver.plan = with_identities(PLAN)
    world.coordinator.plan("other")
    reasons = {p.change for p in Queries(world.store.engine).packages("other")}
    assert reasons == {"new in this profile"}


def plain_session(world: World, session: str, plan: Plan, reuse: bool, simulated: bool = True) -> dict[str, dict[str, object]]:
    """A session outside build profiles (``queue add``)."""
    return run_session(world, session, plan, reuse, profile="", simulated=simulated)


def test_a_session_outside_profiles_skips_what_the_binhost_holds_with_the_same_identity(world: World) -> None:
    plain_session(world, "q1", with_identities(PLAN), reuse=True)
    assert len(world.publisher.published) == 5
    again = plain_session(world, "q2", with_identities(PLAN, tool="id-tool-2"), reuse=True)
    assert world.publisher.published[5:] == ["app-misc/tool-1"]  # only the package whose identity moved
    assert {p.state for p in again.values()} == {"published"}
    assert again["sys-libs/base-1"].change.startswith("unchanged: the binhost holds it already")
    assert Queries(world.store.engine).session("q2").state == "complete"  # type: ignore[union-attr]


def test_rebuild_builds_everything_and_profiles_count_as_the_binhost(world: World) -> None:
    run_session(world, "p1", with_identities(PLAN))  # a profile's packages are in the binhost too
    forced = plain_session(world, "q1", with_identities(PLAN), reuse=False)
    assert len(world.publisher.published) == 10 and {p.change for p in forced.values()} == {""}
    plain_session(world, "q2", with_identities(PLAN), reuse=True)
    assert len(world.publisher.published) == 10


def test_simulated_packages_do_not_count_for_a_real_session(world: World) -> None:
    plain_session(world, "q1", with_identities(PLAN), reuse=True, simulated=True)
    world.store.create_session("real", REQUEST, simulated=False, reuse=True)
    world.resolver.plan = with_identities(PLAN)
    world.coordinator.plan("real")
    assert {p.change for p in Queries(world.store.engine).packages("real")} == {""}


def test_a_package_whose_file_the_budget_pruned_is_built_again(world: World) -> None:
    """Its identity was published, but ``binhost purge --budget`` pruned every file of it from staging: a profile's
    sync and a plain session each build it again (the generation would lack it otherwise), and skip the rest."""
    run_session(world, "p1", with_identities(PLAN))
    assert len(world.publisher.published) == 5
    world.publisher.pruned = {"dev-libs/lib-1-1.gpkg.tar"}
    synced = run_session(world, "p2", with_identities(PLAN))
    assert world.publisher.published[5:] == ["dev-libs/lib-1"]
    assert synced["dev-libs/lib-1"].change.startswith("built again") and synced["dev-libs/lib-1"].state == "published"
    assert synced["sys-libs/base-1"].change == "unchanged: published already with the same identity"
    assert Queries(world.store.engine).session("p2").state == "complete"  # type: ignore[union-attr]

    world.publisher.pruned = {"dev-libs/lib-1-1.gpkg.tar", "app-misc/app-1-1.gpkg.tar"}
    plain = plain_session(world, "q1", with_identities(PLAN), reuse=True)
    assert sorted(world.publisher.published[6:]) == ["app-misc/app-1", "dev-libs/lib-1"]
    assert plain["app-misc/app-1"].change.startswith("built again")
    assert plain["sys-libs/base-1"].change.startswith("unchanged: the binhost holds it already")
    plain_session(world, "q2", with_identities(PLAN), reuse=True)  # its files are back: nothing is built
    run_session(world, "p3", with_identities(PLAN))
    assert len(world.publisher.published) == 8


def test_an_identity_counts_only_while_its_newest_file_is_there(world: World) -> None:
    """A generation takes the newest file of an identity: when the budget pruned that one (a newer version came) while
    an older build of the same identity stays (a kept generation links it), the package is built again."""
    world.publisher.numbered = True
    run_session(world, "p1", with_identities(PLAN))  # dev-libs/lib-1-1.gpkg.tar
    plain_session(world, "q1", with_identities(PLAN), reuse=False)  # --rebuild: dev-libs/lib-1-2.gpkg.tar
    world.publisher.pruned = {"dev-libs/lib-1-2.gpkg.tar"}
    synced = run_session(world, "p2", with_identities(PLAN))
    assert world.publisher.published[10:] == ["dev-libs/lib-1"] and synced["dev-libs/lib-1"].change.startswith("built again")
