"""An explicit baseline (`build-swarm resolve --baseline FILE`): the drones' installed packages replace the profile's
@system in the private root's vdb, steer portage's `|| ( )` choices, and are cached per baseline hash."""

from __future__ import annotations

import dataclasses
import json
from pathlib import Path

import pytest

from swarm_celery.domain.baseline import InstalledPackage
from swarm_celery.domain.config import ResolveRequest
from swarm_celery.errors import ResolveError
from swarm_celery.resolve.adapter import PortageResolver
from tests.integration.demo_kit import Run, cli_env, run_cli
from tests.integration.overlay_kit import synthetic_request

# top needs one of two providers; portage takes the first unless the other is installed
ALTERNATIVES = {"app-misc/top-1": {"RDEPEND": "|| ( app-misc/alt-a app-misc/alt-b )"}, "app-misc/alt-a-1": {},
                "app-misc/alt-b-1": {"IUSE": "x"}, "app-misc/alt-b-2": {"IUSE": "x"}}


def request(tmp_path: Path) -> ResolveRequest:
    return synthetic_request(tmp_path, overlay=ALTERNATIVES, extra_world=("app-misc/top",))


def resolve_cli(tmp_path: Path, portage_cache: Path, *extra: str) -> Run:
    req = request(tmp_path)
    world = tmp_path / "world"
    world.write_text("".join(f"{atom}\n" for atom in req.world))
    repos = [arg for repo in req.repos for arg in ("--repo", repo)]
    return run_cli(["resolve", *repos, "--world", str(world), "--portage-config", req.portage_config, *extra],
                   cli_env(tmp_path / "home", portage_cache))


def test_explicit_baseline_steers_the_plan_and_is_cached(portage_cache: Path, tmp_path: Path) -> None:
    default = resolve_cli(tmp_path, portage_cache, "--json")
    assert default.code == 0, default.stderr
    assert [p["cpv"] for p in default.json()["packages"] if "/alt-" in p["cpv"]] == ["app-misc/alt-a-1"]
    assert len(default.json()["baseline"]) > 20, "the default baseline is the profile's @system"

    baseline = tmp_path / "installed.txt"
    baseline.write_text('# qlist -ISRv on a drone\napp-misc/alt-b-1:0::fixture USE="x"\nsys-libs/zlib-1.3.1-r1\n')
    run = resolve_cli(tmp_path, portage_cache, "--baseline", str(baseline), "--json")
    assert run.code == 0, run.stderr
    plan = run.json()
    assert [p["cpv"] for p in plan["packages"] if "/alt-" in p["cpv"]] == ["app-misc/alt-b-2"], "the installed provider wins"
    assert plan["baseline"] == ["app-misc/alt-b-1", "sys-libs/zlib-1.3.1-r1"]
    assert plan["config_hash"] != default.json()["config_hash"]

    explicit = dataclasses.replace(request(tmp_path), baseline=(InstalledPackage("app-misc/alt-b-1", "0", "fixture", ("x",)),
                                                                InstalledPackage("sys-libs/zlib-1.3.1-r1")))
    assert plan["config_hash"] == explicit.config_hash()
    cached = json.loads((portage_cache / "baseline" / f"{explicit.baseline_hash()}.json").read_text())
    alt_b = next(r for r in cached if r["cpv"] == "app-misc/alt-b-1")
    assert (alt_b["USE"], alt_b["SLOT"], alt_b["repository"], alt_b["IUSE"]) == ("x", "0", "fixture", "x")
    zlib = next(r for r in cached if r["cpv"] == "sys-libs/zlib-1.3.1-r1")
    assert zlib["repository"] == "swarm-synthetic" and zlib["SLOT"] == "0/1", "slot and repository default to the ebuild's"


def test_json_baseline_is_the_same_configuration(portage_cache: Path, tmp_path: Path) -> None:
    baseline = tmp_path / "installed.json"
    baseline.write_text(json.dumps([{"cpv": "app-misc/alt-b-1", "slot": "0", "repo": "fixture", "use": ["x"]},
                                    {"cpv": "sys-libs/zlib-1.3.1-r1"}]))
    run = resolve_cli(tmp_path, portage_cache, "--baseline", str(baseline), "--json")
    assert run.code == 0, run.stderr
    explicit = dataclasses.replace(request(tmp_path), baseline=(InstalledPackage("app-misc/alt-b-1", "0", "fixture", ("x",)),
                                                                InstalledPackage("sys-libs/zlib-1.3.1-r1")))
    assert run.json()["config_hash"] == explicit.config_hash()
    assert [p["cpv"] for p in run.json()["packages"] if "/alt-" in p["cpv"]] == ["app-misc/alt-b-2"]


@pytest.mark.parametrize(("content", "message"), [
    ("app-misc/alt-b-1::fixture\napp-misc/alt-b-1 USE=x\n",
     "line 2: cannot read 'app-misc/alt-b-1 USE=x'; write one installed package per line as `qlist -IRv` prints it: "
     'category/package-version[:slot][::repo] [USE="flags"]'),
    ("sys-libs/zlib-1.3.1-r1\n\napp-misc/alt-b-9\n",
     "line 3: no repository has an ebuild of app-misc/alt-b-9 (searched swarm-synthetic, fixture): "
     "fix the version to one the repositories have, or add the overlay holding it with --repo"),
    ("app-misc/alt-a-1::swarm-synthetic\n",
     "line 1: no repository has an ebuild of app-misc/alt-a-1 (searched swarm-synthetic): "
     "fix the version to one the repositories have, or add the overlay holding it with --repo"),
    ("app-misc/alt-a-1::gentoo\n",
     "line 1: repository 'gentoo' of app-misc/alt-a-1 is not among the repositories (swarm-synthetic, fixture): "
     "add it with --repo, or drop ::gentoo"),
])
def test_bad_baseline_is_one_line_naming_the_line(portage_cache: Path, tmp_path: Path, content: str, message: str) -> None:
    baseline = tmp_path / "installed.txt"
    baseline.write_text(content)
    run = resolve_cli(tmp_path, portage_cache, "--baseline", str(baseline))
    assert (run.code, run.stdout) == (2, "")
    assert run.stderr == f"error: baseline {baseline}, {message}\n"


def test_unreadable_baseline_file(portage_cache: Path, tmp_path: Path) -> None:
    missing = tmp_path / "no-such-file"
    run = resolve_cli(tmp_path, portage_cache, "--baseline", str(missing))
    assert run.code == 2
    assert run.stderr == (f"error: cannot read the baseline file {missing}: No such file or directory; "
                          "pass `qlist -IRv` output (or JSON) with --baseline\n")


def test_resolver_refuses_a_baseline_package_no_repository_has(portage_cache: Path, tmp_path: Path) -> None:
    """A request that bypassed the CLI's check (stored, or sent to the API) fails in the resolver the same way."""
    bad = dataclasses.replace(request(tmp_path), baseline=(InstalledPackage("app-misc/ghost-1"),))
    with pytest.raises(ResolveError) as info:
        PortageResolver(portage_cache).resolve(bad)
    assert (info.value.kind, info.value.atom) == ("baseline", "app-misc/ghost-1")
    assert str(info.value) == ("the baseline lists app-misc/ghost-1, which is not in any repository (fixture, swarm-synthetic): "
                               "fix its version or add the overlay holding it with --repo")


def test_queue_add_reads_the_baseline_before_queueing(portage_cache: Path, tmp_path: Path) -> None:
    baseline = tmp_path / "installed.txt"
    baseline.write_text("sys-libs/zlib-1.3.1-r1\nsys-libs/zlib-9\n")
    run = run_cli(["queue", "add", "app-misc/tmux", "--baseline", str(baseline)], cli_env(tmp_path / "home", portage_cache))
    assert (run.code, run.stdout) == (2, "")
    assert run.stderr == (f"error: baseline {baseline}, line 2: no repository has an ebuild of sys-libs/zlib-9 (searched swarm-synthetic): "
                          "fix the version to one the repositories have, or add the overlay holding it with --repo\n")
