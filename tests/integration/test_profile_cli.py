"""`build-swarm profile ...` as a user runs it: every command with --json, every mistake one line and a non-zero exit."""

from __future__ import annotations

from pathlib import Path

import pytest

from swarm_celery.resolve.synthetic import write_synthetic_repo
from tests.integration.demo_kit import Run, cli_env, run_cli


@pytest.fixture
def env(tmp_path: Path, portage_cache: Path) -> dict[str, str]:
    return cli_env(tmp_path / "home", portage_cache, SWARM_REPO=str(write_synthetic_repo(tmp_path / "repo")))


def cli(env: dict[str, str], *args: str) -> Run:
    return run_cli(list(args), env, timeout=120)


def test_create_list_show_edit_delete(env: dict[str, str], tmp_path: Path) -> None:
    created = cli(env, "profile", "create", "desk", "--atom", "app-misc/tmux", "--atom", "app-editors/vim", "--auto-rebuild", "--json")
    assert created.code == 0, created.stderr
    assert created.json() == {"name": "desk", "mode": "distribution", "arch": "amd64", "gentoo_profile": "default/linux/amd64/23.0/systemd",
                              "repos": [env["SWARM_REPO"]], "world": ["app-misc/tmux", "app-editors/vim"], "portage_config": "",
                              "machine_root": "", "machine_host": "", "auto_rebuild": True, "description": ""}
    machine = tmp_path / "laptop"
    (machine / "var/lib/portage").mkdir(parents=True)
    (machine / "var/lib/portage/world").write_text("app-misc/tmux\n")
    (machine / "etc/portage").mkdir(parents=True)
    (machine / "etc/portage/package.use").write_text("app-misc/tmux -vim-syntax\n")
    assert cli(env, "profile", "create", "laptop", "--mode", "user", "--machine", str(machine)).code == 0
    listed = cli(env, "profile", "list", "--json").json()
    assert [(p["name"], p["mode"]) for p in listed] == [("desk", "distribution"), ("laptop", "user")]
    text = cli(env, "profile", "list").stdout.splitlines()
    assert text[0].split()[:3] == ["desk", "distribution", "amd64"] and text[0].endswith("2 atoms  auto-rebuild")
    edited = cli(env, "profile", "edit", "desk", "--add", "sys-libs/zlib", "--remove", "app-editors/vim", "--no-auto-rebuild", "--json")
    assert edited.code == 0 and edited.json()["world"] == ["app-misc/tmux", "sys-libs/zlib"] and not edited.json()["auto_rebuild"]
    shown = cli(env, "profile", "show", "desk")
    assert "world:          app-misc/tmux sys-libs/zlib" in shown.stdout and "auto-rebuild:   no" in shown.stdout
    assert cli(env, "profile", "delete", "laptop", "--json").json() == {"deleted": "laptop"}
    assert [p["name"] for p in cli(env, "profile", "list", "--json").json()] == ["desk"]


@pytest.mark.parametrize(("args", "message"), [
    (["create", "Desk", "--atom", "app-misc/tmux"], "error: profile name 'Desk' is not valid: use 1-64 lower-case letters, digits, "
                                                   "'.', '_' or '-', starting with a letter or digit"),
    (["create", "desk"], "error: a distribution profile needs its world: pass --atom ATOM (repeatable) or --world FILE"),
    (["create", "desk", "--atom", "tmux;reboot"], "error: 'tmux;reboot' is not a package atom: expected category/package, e.g. "
                                                  "app-misc/tmux or >=dev-libs/foo-1.2"),
    (["create", "desk", "--atom", "app-misc/tmux", "--gentoo-profile", "default/linux/sparc"],
     "error: Gentoo profile 'default/linux/sparc' does not exist in {repo}/profiles: check --gentoo-profile"),
    (["create", "desk", "--atom", "app-misc/tmux", "--repo", "/nonexistent"],
     "error: repository /nonexistent does not exist: pass an ebuild repository with --repo (or set SWARM_REPO)"),
    (["create", "lap", "--mode", "user", "--machine", "/nonexistent"],
     "error: profile lap: the machine root /nonexistent does not exist; mount or copy the machine there, or point the profile "
     "elsewhere with `build-swarm profile edit lap --machine PATH`"),
    (["show", "nope"], "error: no build profile named 'nope'; see `build-swarm profile list`"),
    (["edit", "nope", "--add", "app-misc/tmux"], "error: no build profile named 'nope'; see `build-swarm profile list`"),
    (["delete", "nope"], "error: no build profile named 'nope'; see `build-swarm profile list`"),
    (["sync", "nope", "--no-wait"], "error: no build profile named 'nope'; see `build-swarm profile list`"),
])
def test_every_mistake_is_one_line_and_nothing_is_recorded(env: dict[str, str], args: list[str], message: str) -> None:
    run = cli(env, "profile", *args)
    assert run.code != 0
    assert run.stderr.strip() == message.format(repo=env["SWARM_REPO"])
    assert cli(env, "profile", "list", "--json").json() == []


def test_creating_twice_and_removing_what_is_not_there_are_refused(env: dict[str, str]) -> None:
    assert cli(env, "profile", "create", "desk", "--atom", "app-misc/tmux").code == 0
    twice = cli(env, "profile", "create", "desk", "--atom", "app-misc/tmux")
    assert twice.code != 0 and twice.stderr.strip() == "error: profile desk exists already: change it with `build-swarm profile edit desk`"
    missing = cli(env, "profile", "edit", "desk", "--remove", "app-editors/vim")
    assert missing.code != 0
    assert missing.stderr.strip() == "error: app-editors/vim is not in the world of desk; see `build-swarm profile show desk`"
