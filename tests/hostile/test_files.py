"""Files from outside (a machine's root, a world a user names): read bounded, never through a link out of the machine,
never echoed."""

from __future__ import annotations

import os
import time
from pathlib import Path

import pytest

from swarm_celery.domain.config import parse_world
from tests.integration.demo_kit import Run, cli_env, run_cli

SECRET = "root:$6$supersecret$abc:19000:0:99999:7:::"


@pytest.fixture
def env(tmp_path: Path, portage_cache: Path) -> dict[str, str]:
    return cli_env(tmp_path / "home", portage_cache)


def machine(tmp_path: Path, world: str | None = None) -> Path:
    root = tmp_path / "machine"
    (root / "var/lib/portage").mkdir(parents=True)
    (root / "etc/portage").mkdir(parents=True)
    (tmp_path / "shadow").write_text(SECRET + "\n")
    if world is None:
        (root / "var/lib/portage/world").symlink_to(tmp_path / "shadow")
    else:
        (root / "var/lib/portage/world").write_text(world)
    return root


def one_line(run: Run) -> str:
    assert run.code == 2 and run.stderr.count("\n") == 1 and "Traceback" not in run.stderr, run.stderr
    assert "supersecret" not in run.stderr + run.stdout and "root:" not in run.stderr
    return run.stderr


def test_a_world_linked_to_a_secret_is_refused_and_not_echoed(tmp_path: Path, env: dict[str, str], shared: Path) -> None:
    root = machine(tmp_path)
    run = run_cli(["profile", "create", "laptop", "--mode", "user", "--machine", str(root), "--repo", str(shared / "gentoo" / "repo")], env)
    assert "leads outside the machine root" in one_line(run)


def test_a_package_use_linked_out_of_the_machine_is_refused(tmp_path: Path, env: dict[str, str], shared: Path) -> None:
    root = machine(tmp_path, "app-misc/tmux\n")
    (root / "etc/portage/package.use").mkdir()
    (root / "etc/portage/package.use/evil").symlink_to(tmp_path / "shadow")
    run = run_cli(["profile", "create", "laptop", "--mode", "user", "--machine", str(root), "--repo", str(shared / "gentoo" / "repo")], env)
    assert "leads outside the machine root" in one_line(run)


def test_a_world_that_is_no_world_names_the_entry_not_its_text(tmp_path: Path, env: dict[str, str], shared: Path) -> None:
    root = machine(tmp_path, f"app-misc/tmux\n{SECRET}\n")
    run = run_cli(["profile", "create", "laptop", "--mode", "user", "--machine", str(root), "--repo", str(shared / "gentoo" / "repo")], env)
    assert "entry 2 is not a package atom" in one_line(run)


@pytest.mark.parametrize("source", ["/dev/zero", "/dev/urandom", "fifo"])
def test_a_world_that_is_a_device_is_refused_at_once(tmp_path: Path, env: dict[str, str], shared: Path, source: str) -> None:
    if source == "fifo":  # nobody writes to it: a reader that opened it plainly would wait forever
        os.mkfifo(tmp_path / "fifo")
        source = str(tmp_path / "fifo")
    started = time.monotonic()
    run = run_cli(
        ["queue", "add", "--repo", str(shared / "gentoo" / "repo"), "--world", source], env | {"SWARM_BROKER_URL": "redis://127.0.0.1:1/0"}
    )
    assert "is not a regular file" in one_line(run) and time.monotonic() - started < 20  # was 2.7 GB read in 8 s


def test_a_world_too_big_to_be_one_is_refused(tmp_path: Path, env: dict[str, str], shared: Path) -> None:
    world = tmp_path / "world"
    world.write_text("app-misc/tmux\n" * 400_000)  # 5.6 MB
    run = run_cli(["resolve", "--repo", str(shared / "gentoo" / "repo"), "--world", str(world)], env)
    assert "is over 4096 KiB" in one_line(run)


def test_world_parsing_is_linear() -> None:
    """40,000 distinct lines took 12 s to parse (a list searched for every line); now a blink: a bound far above linear."""
    text = "".join(f"app-misc/p{n}\n" for n in range(200_000))
    started = time.monotonic()
    atoms = parse_world(text + text)
    assert len(atoms) == 200_000 and time.monotonic() - started < 3
