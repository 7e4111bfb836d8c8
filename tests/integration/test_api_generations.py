"""Generations through the API and the CLI: list, publish, roll back, tag, keep, diff, purge, collect, and what clients fetch."""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from swarm_celery.binhost.generations import GenerationFiles
from swarm_celery.binhost.index import parse_index
from swarm_celery.domain.generations import Generation, GenerationRef
from tests.generations_kit import stage
from tests.integration.api_kit import ApiWorld, api_world
from tests.integration.demo_kit import cli_env, run_cli


@pytest.fixture
def world(tmp_path: Path) -> Iterator[ApiWorld]:
    with api_world(tmp_path) as found:
        yield found


def two_generations(binhost: Path) -> GenerationFiles:
    old = stage(binhost, ["dev-libs/lib-1", "app-misc/app-1"])
    new = stage(binhost, ["dev-libs/lib-2", "app-misc/app-1", "app-misc/tool-1"], use=("amd64", "x"), attempt="b")
    files = GenerationFiles(binhost)
    for paths in (old, new):
        files.create("desk", "amd64", sorted(paths.values()), Generation(GenerationRef("desk", "amd64", 1), 1000.0, "s1"))
    return files


def test_generations_are_managed_and_served_through_the_api(world: ApiWorld) -> None:
    two_generations(world.home / "binhost")
    with world.client() as admin:
        listed = admin.get("/api/v1/generations").json()
        assert [(g["generation"], g["packages"], g["published"]) for g in listed] == [("desk/amd64/1", 2, False), ("desk/amd64/2", 3, False)]
        assert admin.post("/api/v1/generations/desk/amd64/1/publish").json()["published"]
        nothing = admin.post("/api/v1/generations/desk/amd64/rollback")
        assert nothing.status_code == 400 and "no earlier published generation" in nothing.json()["error"]
        assert admin.post("/api/v1/generations/desk/amd64/2/publish").json()["published"]
        served = _served(world.url)
        assert {e.cpv for e in served} == {"dev-libs/lib-2", "app-misc/app-1", "app-misc/tool-1"}
        assert httpx.get(f"{world.url}/binhost/generations/desk/amd64/current/{served[0].path}").status_code == 200
        assert admin.post("/api/v1/generations/desk/amd64/rollback").json()["generation"] == "desk/amd64/1"
        assert {e.cpv for e in _served(world.url)} == {"dev-libs/lib-1", "app-misc/app-1"}
        assert admin.post("/api/v1/generations/desk/amd64/2/tags", json={"name": "good"}).json()["tags"] == ["good"]
        assert admin.post("/api/v1/generations/desk/amd64/2/keep").json()["kept"]
        diff = admin.get("/api/v1/generations/diff", params={"old": "desk/amd64/1", "new": "desk/amd64/2"}).json()
        assert diff["added"] == ["app-misc/tool-1"] and diff["removed"] == []
        assert {c["key"]: c["reasons"] for c in diff["changed"]} == {"dev-libs/lib:0": ["version 1 → 2", "USE +x"],
                                                                     "app-misc/app:0": ["USE +x"]}
        purge = admin.post("/api/v1/generations/purge", json={"keep_last": 0, "dry_run": True}).json()
        assert purge["removed"] == [] and purge["kept"] == {"desk/amd64/1": "published", "desk/amd64/2": "kept"}
        fit = admin.post("/api/v1/generations/purge", json={"keep_last": 0, "dry_run": True, "budget": "1K"}).json()
        assert fit["removed"] == [] and fit["budget"]["budget"] == 1024 and not fit["budget"]["met"]
        assert fit["budget"]["used_before"] == fit["budget"]["used_after"] > 0 and "cannot be met" in fit["budget"]["problem"]
        bad = admin.post("/api/v1/generations/purge", json={"budget": "lots"})
        assert bad.status_code == 400 and "e.g. 20G" in bad.json()["error"]
        assert admin.post("/api/v1/generations/desk/amd64/9/publish").status_code == 404
        assert [admin.get("/api/v1/generations", params=p).status_code for p in ({"profile": "../.."}, {"arch": "../x"})] == [422, 422]
        assert admin.post("/api/v1/generations/desk/amd64/2/tags", json={"name": "bad name"}).status_code == 422
        assert admin.post("/api/v1/binhost/gc", params={"dry_run": True}).json() == {"removed": [], "dry_run": True}
    with world.client(token=None) as anyone:
        assert anyone.post("/api/v1/generations/desk/amd64/2/publish").status_code == 401


def test_the_cli_does_the_same(tmp_path: Path) -> None:
    files = two_generations(tmp_path / "binhost")
    env = cli_env(tmp_path, tmp_path / "cache")

    def cli(*args: str) -> object:
        run = run_cli(["binhost", *args, "--json"], env)
        assert run.code == 0, run.output
        return json.loads(run.stdout)

    assert cli("publish", "desk/amd64/1")["published"]  # type: ignore[index]
    assert cli("publish", "desk/amd64/2")["published"]  # type: ignore[index]
    assert cli("rollback", "--profile", "desk")["generation"] == "desk/amd64/1"  # type: ignore[index]
    config = cli("client-config", "--profile", "desk", "--url", "http://coord:8080/binhost")
    assert config["generation"] == "desk/amd64/1" and config["repos_conf"] == ""  # type: ignore[index]  # made without a snapshot
    assert "sync-uri = http://coord:8080/binhost/generations/desk/amd64/current\n" in config["binrepos_conf"]  # type: ignore[index]
    none = run_cli(["binhost", "client-config", "--profile", "server"], env)
    assert none.code != 0 and "server/amd64 has no published generation yet" in none.stderr
    assert cli("tag", "desk/amd64/1", "stable")["tags"] == ["stable"]  # type: ignore[index]
    assert cli("release", "desk/amd64/1")["kept"] is False  # type: ignore[index]
    assert [g["generation"] for g in cli("generations", "--profile", "desk")] == ["desk/amd64/1", "desk/amd64/2"]  # type: ignore[attr-defined, index]
    assert cli("diff", "desk/amd64/1", "desk/amd64/2")["added"] == ["app-misc/tool-1"]  # type: ignore[index]
    fit = cli("purge", "--keep-last", "0", "--budget", "1G", "--dry-run")["budget"]  # type: ignore[index]
    assert fit["met"] and fit["removed"] == [] and fit["freed"] == fit["used_before"] - fit["used_after"] > 0  # type: ignore[index]
    text = run_cli(["binhost", "purge", "--budget", "1K", "--dry-run"], env)
    assert text.code == 0 and "budget 1.0K:" in text.stdout and "cannot be met" in text.stdout, text.output
    wrong = run_cli(["binhost", "purge"], {**env, "SWARM_BINHOST_BUDGET": "lots"})
    assert wrong.code != 0 and "SWARM_BINHOST_BUDGET" in wrong.stderr
    assert cli("purge", "--keep-last", "0")["removed"] == ["desk/amd64/2"]  # type: ignore[index]
    assert [g.ref.number for g in files.all()] == [1]
    bad = run_cli(["binhost", "publish", "desk/amd64"], env)
    assert bad.code != 0 and "PROFILE/ARCH/N" in bad.stderr


def _served(url: str) -> list:  # type: ignore[type-arg]
    return parse_index(httpx.get(f"{url}/binhost/generations/desk/amd64/current/Packages").text)[1]
