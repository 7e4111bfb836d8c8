"""User-mode build profiles read over SSH (issue 3, item 6): a machine's world and /etc/portage come from a host of
the fleet inventory through a real sshd on 127.0.0.1 (tests.integration.sshd_kit), read the way a local root is.

The machine's root is a directory the test writes; the code reaches it only through SSH.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path

import pytest

from swarm_celery import bootstrap
from swarm_celery.resolve.synthetic import synthetic_world, write_synthetic_repo
from swarm_celery.settings import Settings
from tests.integration.demo_kit import Run, cli_env, run_cli
from tests.integration.sshd_kit import Sshd, sshd  # noqa: F401
from tests.integration.swarm_kit import Swarm, live_swarm


def machine(root: Path, world: list[str]) -> Path:
    (root / "var/lib/portage").mkdir(parents=True)
    (root / "var/lib/portage/world").write_text("\n".join(world) + "\n")
    (root / "etc/portage/package.use").mkdir(parents=True)
    (root / "etc/portage/package.use/10-tmux").write_text("app-misc/tmux -vim-syntax\n")
    (root / "etc/portage/package.use/20-vim").write_text("app-editors/vim python\n")
    (root / "shared.conf").write_text('USE="-X"\n')
    (root / "etc/portage/make.conf").symlink_to(root / "shared.conf")  # followed, as portage follows it
    return root


def inventory(kit: Sshd, path: Path, known_hosts: Path | None = None) -> Path:
    path.write_text(f'[machines.lap]\nhost = "127.0.0.1"\nport = {kit.port}\nkey_file = "{kit.key}"\n'
                    f'known_hosts = "{known_hosts or kit.known_hosts}"\n')
    return path


@pytest.fixture
def env(tmp_path: Path, portage_cache: Path, sshd: Sshd) -> dict[str, str]:  # noqa: F811
    return cli_env(tmp_path / "home", portage_cache, SWARM_REPO=str(write_synthetic_repo(tmp_path / "repo")),
                   SWARM_FLEET_FILE=str(inventory(sshd, tmp_path / "fleet.toml")))


def cli(env: dict[str, str], *args: str) -> Run:
    return run_cli(list(args), env, timeout=120)


def test_a_machine_read_over_ssh_is_the_same_configuration_as_read_locally(env: dict[str, str], sshd: Sshd) -> None:  # noqa: F811
    root = machine(sshd.root / "laptop", ["app-misc/tmux", "app-editors/vim"])
    remote = cli(env, "profile", "create", "lap", "--mode", "user", "--machine-host", "lap", "--machine", str(root), "--json")
    assert remote.code == 0, remote.stderr
    assert (remote.json()["machine_host"], remote.json()["machine_root"], remote.json()["mode"]) == ("lap", str(root), "user")
    assert cli(env, "profile", "create", "here", "--mode", "user", "--machine", str(root)).code == 0
    assert f"machine:        lap:{root} (over SSH)" in cli(env, "profile", "show", "lap").stdout
    assert cli(env, "profile", "list").stdout.splitlines()[1].endswith(f"machine lap:{root} (over SSH)")  # here, lap

    settings = Settings.from_env(env)
    profiles = bootstrap.store(settings).get_profile
    build = bootstrap.profile_requests(settings)
    over_ssh, local = build(profiles("lap")), build(profiles("here"))  # type: ignore[arg-type]
    assert over_ssh.world == local.world == ("app-misc/tmux", "app-editors/vim")
    assert over_ssh.config_files == local.config_files and dict(over_ssh.config_files)["make.conf"] == 'USE="-X"\n'
    assert over_ssh.config_hash() == local.config_hash() and over_ssh.portage_config == f"lap:{root}/etc/portage"

    (root / "var/lib/portage/world").write_text("app-misc/tmux\n")  # the machine changes: the next sync follows it
    assert build(profiles("lap")).world == ("app-misc/tmux",)  # type: ignore[arg-type]
    back = cli(env, "profile", "edit", "lap", "--machine-host", "", "--json")  # to a local root: it needs --machine now
    assert back.code == 2 and "pass --machine PATH (its root), or --machine-host NAME" in back.stderr


def test_every_way_reading_the_machine_fails_is_one_line(env: dict[str, str], sshd: Sshd, tmp_path: Path) -> None:  # noqa: F811
    root = machine(sshd.root / "laptop", ["app-misc/tmux"])
    (sshd.root / "bare").mkdir()
    user = ["profile", "create", "lap", "--mode", "user"]
    cases = [
        ([*user, "--machine-host", "nope"], env,
         f"error: no host named 'nope' in the fleet inventory {env['SWARM_FLEET_FILE']}: add a [machines.nope] table with "
         'host = "...", or point the profile at another with --machine-host'),
        ([*user, "--machine-host", "lap"], {k: v for k, v in env.items() if k != "SWARM_FLEET_FILE"},
         "error: no host named 'lap' in a fleet inventory (SWARM_FLEET_FILE is unset): add a [machines.lap] table"),
        ([*user, "--machine-host", "lap", "--machine", "/nonexistent"], env,
         "error: machine lap: its root /nonexistent does not exist there: fix it with --machine PATH"),
        ([*user, "--machine-host", "lap", "--machine", str(sshd.root / "bare")], env,
         f"error: profile lap: machine lap has no lap:{sshd.root}/bare/var/lib/portage/world: is {sshd.root}/bare its root "
         "(fix it with --machine PATH)?"),
        ([*user, "--machine-host", "lap", "--machine", str(root)],
         env | {"SWARM_FLEET_FILE": str(inventory(sshd, tmp_path / "strict.toml", tmp_path / "empty_known_hosts"))},
         f"error: cannot read machine lap over SSH: lap (root@127.0.0.1:{sshd.port}): its host key is not in "
         f"{tmp_path}/empty_known_hosts: add it (`ssh-keyscan -p {sshd.port} 127.0.0.1 >> {tmp_path}/empty_known_hosts`)"),
        ([*user, "--machine-host", "lap", "--machine", "relative/root"], env,
         "error: machine root 'relative/root' should be an absolute path"),
    ]
    for args, case_env, message in cases:
        run = cli(case_env, *args)
        assert run.code != 0 and run.stderr.strip().startswith(message), (args, run.stderr)
        assert len(run.stderr.strip().splitlines()) == 1
    assert cli(env, "profile", "list", "--json").json() == []  # nothing was recorded


@pytest.fixture
def swarm(tmp_path: Path, portage_cache: Path, redis_url: str, sshd: Sshd) -> Iterator[Swarm]:  # noqa: F811
    durations = tmp_path / "durations.csv"
    durations.write_text("package,seconds\n")
    yield from live_swarm(tmp_path / "home", portage_cache, redis_url, SWARM_TIME_SCALE="0.01", SWARM_DURATIONS=str(durations),
                          SWARM_FLEET_FILE=str(inventory(sshd, tmp_path / "fleet.toml")))


@pytest.mark.slow
def test_a_profile_over_ssh_builds_its_machine_and_then_only_what_changed_there(swarm: Swarm, sshd: Sshd,  # noqa: F811
                                                                               tmp_path: Path) -> None:
    root = machine(sshd.root / "laptop", synthetic_world())
    repo = write_synthetic_repo(tmp_path / "tree")
    made = swarm.cli("profile", "create", "lap", "--mode", "user", "--machine-host", "lap", "--machine", str(root), "--repo", str(repo))
    assert made.code == 0, made.stderr
    swarm.start_drones(["s1"])

    def sync() -> dict[str, object]:
        run = swarm.cli("profile", "sync", "lap", "--json")
        assert run.code == 0, run.stderr
        summary: dict[str, object] = json.loads(run.stdout)
        swarm.wait(lambda: swarm.state(str(summary["session"])) == "complete", 180, "the session")
        return summary

    first = sync()
    assert first["planned"] == first["to_build"] and first["to_build"] == len(first["new"]) > 40  # type: ignore[arg-type]
    (root / "etc/portage/package.use/10-tmux").write_text("app-misc/tmux debug\n")  # edited on the machine
    second = sync()
    assert second["changed"] == [{"cpv": "app-misc/tmux-3.5a", "why": "USE +debug"}], second["changed"]
    assert second["to_build"] == 1
