"""Binary-package identities from real portage: stable, moved by USE and by a `:=` dependency's sub-slot, and by nothing else."""

from __future__ import annotations

import json
import re
import subprocess
import sys
from pathlib import Path

import pytest

from swarm_celery.cli.main import main
from swarm_celery.domain.identity import PlanDiff, diff_plans, identity_of, package_key
from swarm_celery.domain.model import Plan
from swarm_celery.resolve.adapter import PortageResolver
from tests.integration.overlay_kit import synthetic_request

ZLIB = {"DESCRIPTION": "fixture zlib", "LICENSE": "ZLIB", "IUSE": "minizip static-libs"}


def resolve(portage_cache: Path, tmp_path: Path, **kwargs: object) -> Plan:
    return PortageResolver(portage_cache).resolve(synthetic_request(tmp_path, **kwargs))  # type: ignore[arg-type]


def binders_of(plan: Plan, cp: str) -> set[str]:
    """Keys of the packages that bind ``cp`` through a ``:=`` dependency."""
    return {package_key(p.cpv, p.slot) for p in plan.packages if any(d.startswith(f"{cp}:") for d in p.slot_deps)}


def changed(diff: PlanDiff) -> dict[str, list[str]]:
    return {c.key: [r.text for r in c.reasons] for c in diff.changed}


def test_identities_are_stable_across_resolver_processes(portage_cache: Path, tmp_path: Path) -> None:
    first, second = resolve(portage_cache, tmp_path), resolve(portage_cache, tmp_path)
    assert [(p.cpv, p.identity) for p in first.packages] == [(p.cpv, p.identity) for p in second.packages]
    assert all(re.fullmatch(r"[0-9a-f]{64}", p.identity) for p in first.packages)
    assert len({p.identity for p in first.packages}) == len(first.packages)
    assert (first.arch, first.gentoo_profile) == ("amd64", "default/linux/amd64/23.0/systemd")
    assert all(p.identity == identity_of(p, first.arch, first.gentoo_profile) for p in first.packages)
    python = next(p for p in first.packages if p.cpv.startswith("dev-lang/python-3.12"))
    assert "sys-libs/zlib:0/1" in python.slot_deps and "virtual/libcrypt:0/2" in python.slot_deps
    gcc = next(p for p in first.packages if p.cpv.startswith("sys-devel/gcc-"))
    assert not any(d.startswith("sys-libs/zlib:") for d in gcc.slot_deps), "gcc depends on sys-libs/zlib without :="


def test_a_package_nobody_depends_on_moves_no_other_identity(portage_cache: Path, tmp_path: Path) -> None:
    old = resolve(portage_cache, tmp_path, overlay={"app-misc/lonely-1": {}}, tag="old")
    new = resolve(portage_cache, tmp_path, overlay={"app-misc/lonely-1": {}}, extra_world=("app-misc/lonely",), tag="new")
    diff = diff_plans(old, new)
    assert [p.cpv for p in diff.new] == ["app-misc/lonely-1"]
    assert (diff.gone, diff.changed, diff.unchanged) == ((), (), len(old.packages))


def test_package_use_changes_only_that_package_s_identity(portage_cache: Path, tmp_path: Path) -> None:
    old = resolve(portage_cache, tmp_path, tag="old")
    new = resolve(portage_cache, tmp_path, package_use="sys-libs/zlib minizip\n", tag="new")
    diff = diff_plans(old, new)
    assert changed(diff) == {"sys-libs/zlib:0": ["USE +minizip"]}
    assert (diff.new, diff.gone) == ((), ())
    assert binders_of(old, "sys-libs/zlib"), "zlib has := dependents, and a USE change leaves them alone"


def test_a_dependency_s_sub_slot_moves_exactly_its_slot_operator_dependents(portage_cache: Path, tmp_path: Path) -> None:
    old = resolve(portage_cache, tmp_path, overlay={"sys-libs/zlib-1.3.2": ZLIB | {"SLOT": "0/1"}}, tag="old")
    new = resolve(portage_cache, tmp_path, overlay={"sys-libs/zlib-1.3.2": ZLIB | {"SLOT": "0/2"}}, tag="new")
    diff = diff_plans(old, new)
    binders = binders_of(old, "sys-libs/zlib")
    assert {"dev-lang/python:3.12", "app-arch/zstd:0"} <= binders
    assert set(changed(diff)) == binders | {"sys-libs/zlib:0"}
    assert changed(diff)["sys-libs/zlib:0"] == ["own sub-slot 1 → 2"]
    assert changed(diff)["app-arch/zstd:0"] == ["sub-slot of dependency sys-libs/zlib:0: 1 → 2"]
    assert any(p.cpv.startswith("sys-devel/gcc-") for p in new.packages) and "sys-devel/gcc:14" not in changed(diff)


def test_a_dependency_rebuilt_with_the_same_sub_slot_moves_only_itself(portage_cache: Path, tmp_path: Path) -> None:
    old = resolve(portage_cache, tmp_path, overlay={"sys-libs/zlib-1.3.2": ZLIB | {"SLOT": "0/1"}}, tag="old")
    new = resolve(portage_cache, tmp_path, overlay={"sys-libs/zlib-1.3.3": ZLIB | {"SLOT": "0/1"}}, tag="new")
    assert changed(diff_plans(old, new)) == {"sys-libs/zlib:0": ["version 1.3.2 → 1.3.3"]}


def test_cli_diff_against_an_earlier_resolve_json(portage_cache: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
                                                  capsys: pytest.CaptureFixture[str]) -> None:
    monkeypatch.setenv("SWARM_HOME", str(tmp_path / "home"))
    old_req = synthetic_request(tmp_path, overlay={"sys-libs/zlib-1.3.2": ZLIB | {"SLOT": "0/1"}}, tag="old")
    world = str(_world(tmp_path, old_req.world))
    main(["resolve", "--repo", old_req.repos[0], "--repo", old_req.repos[1], "--world", world, "--json"])
    saved = capsys.readouterr().out
    assert all(p["identity"] for p in json.loads(saved)["packages"])
    (tmp_path / "old.json").write_text(saved)
    new_req = synthetic_request(tmp_path, overlay={"sys-libs/zlib-1.3.3": ZLIB | {"SLOT": "0/2"}}, tag="new")
    main(["resolve", "--repo", new_req.repos[0], "--repo", new_req.repos[1], "--world", world, "--diff", str(tmp_path / "old.json"), "--json"])
    diff = json.loads(capsys.readouterr().out)
    zlib = next(c for c in diff["changed"] if c["key"] == "sys-libs/zlib:0")
    assert [r["text"] for r in zlib["reasons"]] == ["version 1.3.2 → 1.3.3", "own sub-slot 1 → 2"]
    assert (diff["new"], diff["gone"]) == ([], []) and diff["unchanged"] > 30
    main(["resolve", "--repo", new_req.repos[0], "--repo", new_req.repos[1], "--world", world, "--diff", str(tmp_path / "old.json")])
    text = capsys.readouterr().out
    assert "0 new, 0 gone" in text and "changed  app-arch/zstd:0" in text and "sub-slot of dependency sys-libs/zlib:0: 1 → 2" in text


def _world(tmp_path: Path, atoms: tuple[str, ...]) -> Path:
    path = tmp_path / "world"
    path.write_text("".join(f"{a}\n" for a in atoms))
    return path


@pytest.mark.parametrize(("content", "expected"), [
    (None, "cannot read"),
    ("{not json", "is not JSON"),
    ('{"new": [], "gone": [], "changed": [], "unchanged": 3}', "not a `build-swarm resolve --json` output"),
    ('{"packages": [{"cpv": "a/b-1", "slot": "0", "sub_slot": "0", "repo": "r", "use": []}], "merge_order": ["a/b-1"]}', "has no identity"),
])
def test_bad_old_json_is_a_one_line_error_before_any_resolve(tmp_path: Path, content: str | None, expected: str) -> None:
    old = tmp_path / "old.json"
    if content is not None:
        old.write_text(content)
    proc = subprocess.run([sys.executable, "-m", "swarm_celery", "resolve", "--repo", str(tmp_path / "no-such-repo"), "--diff", str(old)],
                          capture_output=True, text=True, timeout=60, check=False)
    assert proc.returncode == 2, proc.stderr
    assert proc.stderr.startswith("error: ") and expected in proc.stderr and proc.stderr.count("\n") == 1, proc.stderr
    assert "build-swarm resolve --json" in proc.stderr and "no-such-repo" not in proc.stderr
