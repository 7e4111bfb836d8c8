"""Binary-package identity (a sha256 of canonical inputs) and the plan diff keyed by category/package:SLOT."""

from __future__ import annotations

import json
import os
import subprocess
import sys

import pytest

from swarm_celery.domain.identity import PlanDiff, Reason, diff_plans, identity_of, package_identity, package_key, slot_binding, version_of
from swarm_celery.domain.model import Plan, PlannedPackage
from swarm_celery.resolve.adapter import plan_from_json, plan_from_resolve_output, plan_to_json

ARCH, PROFILE = "amd64", "default/linux/amd64/23.0/systemd"
INPUTS: dict[str, object] = {"cpv": "dev-libs/foo-1.2", "repo": "gentoo", "slot": "0", "sub_slot": "1.2", "arch": ARCH, "gentoo_profile": PROFILE,
                             "use": ["ssl", "amd64"], "slot_deps": ["sys-libs/zlib:0/1", "dev-libs/openssl:0/3"]}
GOLDEN = "95950ddd6a0a6fa0713a8f8b8fb610d102727b3c157fc9e5509130603d658dc0"


def identity(**changes: object) -> str:
    return package_identity(**(INPUTS | changes))  # type: ignore[arg-type]


def pkg(cpv: str, slot: str = "0", sub_slot: str = "0", use: tuple[str, ...] = (), slot_deps: tuple[str, ...] = (), repo: str = "gentoo",
        arch: str = ARCH, profile: str = PROFILE) -> PlannedPackage:
    bare = PlannedPackage(cpv, slot, sub_slot, repo, use, slot_deps=slot_deps)
    return PlannedPackage(cpv, slot, sub_slot, repo, use, slot_deps=slot_deps, identity=identity_of(bare, arch, profile))


def plan(*packages: PlannedPackage, arch: str = ARCH, profile: str = PROFILE) -> Plan:
    return Plan(packages=packages, merge_order=tuple(p.cpv for p in packages), arch=arch, gentoo_profile=profile)


def test_identity_is_a_fixed_sha256_of_canonical_inputs() -> None:
    assert identity() == GOLDEN
    assert identity(use=["amd64", "ssl", "ssl"], slot_deps=["dev-libs/openssl:0/3", "sys-libs/zlib:0/1"]) == GOLDEN


def test_identity_is_the_same_in_another_process_with_another_hash_seed() -> None:
    code = "import json, sys; from swarm_celery.domain.identity import package_identity; print(package_identity(**json.loads(sys.argv[1])))"
    env = os.environ | {"PYTHONHASHSEED": "12345"}
    out = subprocess.run([sys.executable, "-c", code, json.dumps(INPUTS)], capture_output=True, text=True, env=env, check=True, timeout=60)
    assert out.stdout.strip() == GOLDEN


@pytest.mark.parametrize("change", [
    {"use": ["amd64"]}, {"slot_deps": ["sys-libs/zlib:0/2", "dev-libs/openssl:0/3"]}, {"slot_deps": ["sys-libs/zlib:0/1"]},
    {"cpv": "dev-libs/foo-1.3"}, {"arch": "arm64"}, {"gentoo_profile": "default/linux/amd64/23.0"}, {"repo": "overlay"}, {"sub_slot": "1.3"},
])
def test_every_input_moves_the_identity(change: dict[str, object]) -> None:
    assert identity(**change) != GOLDEN


def test_names_keys_and_versions() -> None:
    assert slot_binding("dev-libs/foo", "0", "") == "dev-libs/foo:0/0"
    assert package_key("dev-lang/python-3.12.8_p1", "3.12") == "dev-lang/python:3.12"
    assert version_of("sys-libs/zlib-1.3.1-r1") == "1.3.1-r1"
    with pytest.raises(ValueError, match="not a category/package-version"):
        package_key("dev-libs/foo", "0")


def test_diff_reports_new_gone_and_changed_with_reasons() -> None:
    old = plan(pkg("dev-libs/a-1.2"), pkg("dev-libs/b-1", use=("ssl",)), pkg("app-misc/c-1", slot_deps=("dev-libs/a:0/1",)),
               pkg("app-misc/gone-1"), pkg("app-misc/same-1", use=("x",)), pkg("dev-lang/py-3.11", slot="3.11"))
    new = plan(pkg("dev-libs/a-1.3"), pkg("dev-libs/b-1", use=("ipv6",)), pkg("app-misc/c-1", slot_deps=("dev-libs/a:0/2",)),
               pkg("app-misc/new-1"), pkg("app-misc/same-1", use=("x",)), pkg("dev-lang/py-3.12", slot="3.12"))
    diff = diff_plans(old, new)
    assert [p.cpv for p in diff.new] == ["app-misc/new-1", "dev-lang/py-3.12"]
    assert [p.cpv for p in diff.gone] == ["app-misc/gone-1", "dev-lang/py-3.11"]
    assert {c.key: [r.text for r in c.reasons] for c in diff.changed} == {
        "app-misc/c:0": ["sub-slot of dependency dev-libs/a:0: 1 → 2"],
        "dev-libs/a:0": ["version 1.2 → 1.3"],
        "dev-libs/b:0": ["USE +ipv6", "USE -ssl"],
    }
    assert diff.unchanged == 1


def test_diff_names_bindings_gained_and_lost_and_configuration_changes() -> None:
    old = plan(pkg("app-misc/c-1", slot_deps=("dev-libs/a:0/1",)), pkg("app-misc/d-1"))
    new = plan(pkg("app-misc/c-1", slot_deps=("dev-libs/b:2/2.1",), profile="p2"), pkg("app-misc/d-1", profile="p2"), profile="p2")
    reasons = {c.key: c.reasons for c in diff_plans(old, new).changed}
    assert reasons["app-misc/d:0"] == (Reason("gentoo_profile", PROFILE, "p2"),)
    assert [r.text for r in reasons["app-misc/c:0"]] == [
        f"Gentoo profile {PROFILE} → p2", "no longer binds := to dev-libs/a:0 (was sub-slot 1)", "new := dependency dev-libs/b:2 (sub-slot 2.1)"]


def test_diff_with_no_recorded_difference_says_so() -> None:
    old = plan(PlannedPackage("a/b-1", "0", "0", "r", (), identity="x"))
    new = plan(PlannedPackage("a/b-1", "0", "0", "r", (), identity="y"))
    assert [r.kind for r in diff_plans(old, new).changed[0].reasons] == ["unknown"]


def test_diff_json_shape() -> None:
    diff = diff_plans(plan(pkg("dev-libs/a-1.2")), plan(pkg("dev-libs/a-1.3"), pkg("x/y-1")))
    data = json.loads(json.dumps(diff.to_json()))
    assert data["new"] == [{"key": "x/y:0", "cpv": "x/y-1", "identity": diff.new[0].identity}]
    assert data["changed"][0]["reasons"] == [{"kind": "version", "old": "1.2", "new": "1.3", "subject": "", "text": "version 1.2 → 1.3"}]
    assert (data["gone"], data["unchanged"]) == ([], 0)
    assert diff_plans(plan(), plan()) == PlanDiff((), (), (), 0)


def test_identities_travel_through_plan_json() -> None:
    original = plan(pkg("dev-libs/a-1.2", sub_slot="1", use=("ssl",)), pkg("app-misc/c-1", slot_deps=("dev-libs/a:0/1",)))
    data = json.loads(json.dumps(plan_to_json(original)))
    assert data["packages"][1]["slot_deps"] == ["dev-libs/a:0/1"] and data["arch"] == ARCH
    assert plan_from_json(data) == original == plan_from_resolve_output(data)


@pytest.mark.parametrize(("data", "message"), [
    ([], "not a `build-swarm resolve --json` output"),
    ({"packages": [], "merge_order": "x"}, "not a `build-swarm resolve --json` output"),
    ({"packages": [{"cpv": "a/b-1"}], "merge_order": []}, "package #1 is not a resolved package"),
    ({"packages": [{"cpv": "a/b-1", "slot": "0", "sub_slot": "0", "repo": "r", "use": "x", "identity": "i"}], "merge_order": []}, "no use list"),
    ({"packages": [{"cpv": "a/b-1", "slot": "0", "sub_slot": "0", "repo": "r", "use": []}], "merge_order": []}, "written before identities"),
    ({"packages": [{"cpv": "a/b", "slot": "0", "sub_slot": "0", "repo": "r", "use": [], "identity": "i"}], "merge_order": []}, "package #1: not a"),
])
def test_a_file_that_is_no_resolve_output_is_refused(data: object, message: str) -> None:
    with pytest.raises(ValueError, match=message.replace("(", r"\(")):
        plan_from_resolve_output(data)
