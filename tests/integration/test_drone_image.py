"""drone-image/: the golden spec against the real Gentoo tree, the facts command run for real (on this machine, and on
a directory laid out like a drone, with real portage computing its FEATURES from the templates), and bootstrap.sh."""

from __future__ import annotations

import dataclasses
import email.utils
import importlib.metadata
import os
import shutil
import subprocess
import sys
import time
from pathlib import Path

from swarm_celery.domain.audit import MACHINE_ARCH, DroneSpec, Status, exit_code, facts_argv, judge, parse_spec
from swarm_celery.domain.audit_facts import FACTS_SCRIPT, parse_facts
from swarm_celery.settings import read_conf
from tests.conftest import ROOT

IMAGE = ROOT / "drone-image"
SPEC = parse_spec((IMAGE / "spec.toml").read_text(), "drone-image/spec.toml")
VENV_PATH = f"{Path(sys.executable).parent}:{os.environ.get('PATH', '/usr/bin:/bin')}"  # portageq, emerge, ebuild: PyPI's portage


def run_facts(spec: DroneSpec, root: str = "") -> subprocess.CompletedProcess[str]:
    return subprocess.run(facts_argv(spec, root), check=False, capture_output=True, text=True, timeout=60, env={**os.environ, "PATH": VENV_PATH})


def test_the_spec_names_a_real_profile_and_real_packages(shared: Path) -> None:
    repo = shared / "gentoo" / "repo"
    assert (repo / "profiles" / SPEC.profile / "make.defaults").is_file()
    assert [atom for atom in SPEC.world if not (repo / atom.split(":")[0]).is_dir()] == []
    assert set(SPEC.features).isdisjoint(SPEC.forbidden_features)


def test_the_facts_command_reads_this_machine() -> None:
    syntax = subprocess.run(["sh", "-n", "-c", FACTS_SCRIPT], check=False, capture_output=True, text=True)
    assert (syntax.returncode, syntax.stderr) == (0, "")
    spec = dataclasses.replace(SPEC, venv=sys.prefix, commands=("sh", "no-such-command-here", "portageq"),
                               directories=("/etc", "/no/such/dir"), files=("/etc/hostname", "/proc/self"))
    started = time.time()
    run = run_facts(spec)
    facts = parse_facts(run.stdout)
    assert run.returncode == 0 and facts.complete and facts.problems == (), run.stdout + run.stderr
    assert facts.now is not None and abs(facts.now - started) < 5 and facts.machine == os.uname().machine
    assert facts.version == importlib.metadata.version("swarm-celery")
    assert facts.commands == {c: shutil.which(c, path=VENV_PATH) or "" for c in spec.commands}
    assert facts.paths == {"/etc": "directory", "/no/such/dir": "missing", "/etc/hostname": "file", "/proc/self": "directory"}
    manager = "systemd" if Path("/run/systemd/system").is_dir() else "openrc" if Path("/run/openrc").is_dir() else "none"
    assert facts.manager == manager
    pkg = Path("/var/db/pkg")
    assert sorted(facts.installed) == sorted(f"{d.parent.name}/{d.name}" for d in pkg.glob("*/*") if d.is_dir())
    assert exit_code(judge(spec, facts)) in (1, 2)  # a build-swarm checkout on Debian is no golden drone


def drone_root(root: Path, shared: Path, spec: DroneSpec) -> None:
    """``root`` laid out like a drone host: the templates of drone-image/portage, the spec's profile from the real tree,
    a tree synced 2 h ago, the world plus one atom, packages including a forbidden one, services; drone.conf missing."""
    etc = root / "etc" / "portage"
    (etc / "repos.conf").mkdir(parents=True)
    shutil.copy(IMAGE / "portage" / "make.conf", etc / "make.conf")
    for kind in ("package.use", "package.accept_keywords"):
        (etc / kind).mkdir()
        shutil.copy(IMAGE / "portage" / kind, etc / kind / "build-swarm")
    (etc / "repos.conf" / "gentoo.conf").write_text(f"[DEFAULT]\nmain-repo = gentoo\n[gentoo]\nlocation = {shared / 'gentoo' / 'repo'}\n")
    (etc / "make.profile").symlink_to(shared / "gentoo" / "repo" / "profiles" / spec.profile)
    for directory in spec.directories:
        (root / directory.lstrip("/")).mkdir(parents=True, exist_ok=True)
    (root / spec.tree.lstrip("/") / "metadata").mkdir(parents=True)
    for file in spec.files:
        if file != "/etc/build-swarm/drone.conf":
            (root / file.lstrip("/")).parent.mkdir(parents=True, exist_ok=True)
            (root / file.lstrip("/")).touch()
    (root / spec.tree.lstrip("/") / "metadata" / "timestamp.chk").write_text(email.utils.formatdate(time.time() - 7200) + "\n")
    (root / "var" / "lib" / "portage").mkdir(parents=True)
    (root / "var" / "lib" / "portage" / "world").write_text("".join(f"{atom}\n" for atom in (*spec.world, "app-misc/tmux")))
    filler = [f"virtual/filler{i}-1" for i in range(spec.min_installed)]
    for cpf in (*filler, *(f"{atom}-1.0" for atom in spec.world), "dev-util/ccache-4.10.2"):
        (root / "var" / "db" / "pkg" / cpf).mkdir(parents=True)
    for where, service in (("etc/runlevels/default", "sshd"), ("etc/runlevels/default", "build-swarm-drone"), ("run/openrc/started", "sshd")):
        (root / where).mkdir(parents=True, exist_ok=True)
        (root / where / service).touch()


# each package.use line of the template, applied by real portage to the best visible version in the real tree: the
# flags it gets of those the line names (a flag the package does not have, or one the profile masks, is missing)
USE_APPLIED = """
import sys, portage
portdb = portage.db[portage.root]["porttree"].dbapi
settings = portage.config(clone=portage.settings)
for line in open(sys.argv[1] + "/etc/portage/package.use/build-swarm"):
    words = line.split("#")[0].split()
    if words:
        settings.setcpv(portdb.xmatch("bestmatch-visible", words[0]), mydb=portdb)
        print(words[0], *(flag for flag in words[1:] if flag in settings["PORTAGE_USE"].split()))
"""


def test_real_portage_reads_the_templates_with_the_spec_profile(shared: Path, tmp_path: Path) -> None:
    drone_root(tmp_path, shared, SPEC)
    env = {"PATH": VENV_PATH, "PORTAGE_CONFIGROOT": str(tmp_path), "PORTAGE_USERNAME": "root", "PORTAGE_GRPNAME": "root"}
    portageq = subprocess.run([str(Path(sys.executable).parent / "portageq"), "envvar", "ARCH"], check=False, capture_output=True, text=True, env=env)
    assert (portageq.returncode, portageq.stderr, portageq.stdout) == (0, "", f"{SPEC.arch}\n")
    use = subprocess.run([sys.executable, "-c", USE_APPLIED, str(tmp_path)], check=False, capture_output=True, text=True, env=env)
    lines = [line.split("#")[0].strip() for line in (IMAGE / "portage" / "package.use").read_text().splitlines()]
    assert (use.returncode, use.stderr, use.stdout.splitlines()) == (0, "", [" ".join(line.split()) for line in lines if line])


def test_a_host_laid_out_like_a_drone_is_judged_check_by_check(shared: Path, tmp_path: Path) -> None:
    spec = dataclasses.replace(SPEC, venv=sys.prefix)
    drone_root(tmp_path, shared, spec)
    facts = parse_facts(run_facts(spec, str(tmp_path)).stdout)
    checks = {c.name: (c.status, c.message) for c in judge(spec, facts)}
    commands = Status.PASS if all(shutil.which(c, path=VENV_PATH) for c in spec.commands) else Status.FAIL
    assert {name: status for name, (status, _) in checks.items()} == {
        "facts": Status.PASS, "profile": Status.PASS, "arch": Status.PASS if MACHINE_ARCH.get(os.uname().machine) == spec.arch else Status.FAIL,
        "tree": Status.PASS, "build-swarm": Status.PASS, "features": Status.PASS, "world": Status.WARN, "forbidden": Status.FAIL,
        "installed": Status.PASS, "commands": commands, "paths": Status.FAIL, "enabled": Status.PASS, "running": Status.FAIL}, checks
    assert checks["forbidden"][1] == "installed: dev-util/ccache-4.10.2 (emerge --depclean them)"
    assert checks["paths"][1] == "/etc/build-swarm/drone.conf is missing, should be a file"
    assert checks["world"][1] == "not in the spec: app-misc/tmux" and checks["running"][1].startswith("not running: build-swarm-drone")
    assert set(spec.features) <= set(facts.features or ()) and not set(spec.forbidden_features) & set(facts.features or ())


# --- bootstrap.sh ---------------------------------------------------------------------------------------------------

SECRETS = {"SWARM_BROKER_URL": "redis://:s3cret-pw@coordinator.example:6379/0", "SWARM_DRONE_TOKEN": "bsd_s3cret-token"}


def bootstrap(*args: str, **env: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(["sh", str(IMAGE / "bootstrap.sh"), *args], check=False, capture_output=True, text=True, timeout=60,
                          env={"PATH": os.environ.get("PATH", "/usr/bin:/bin"), **env})


def test_bootstrap_plans_every_step_and_never_shows_a_secret(tmp_path: Path) -> None:
    syntax = subprocess.run(["sh", "-n", str(IMAGE / "bootstrap.sh")], check=False, capture_output=True, text=True)
    assert (syntax.returncode, syntax.stderr) == (0, "")
    plans = {init: bootstrap("--name", "box1", "--coordinator", "http://coordinator.example", "--init", init, "--dry-run", **SECRETS)
             for init in ("openrc", "systemd")}
    for run in plans.values():
        assert run.returncode == 0 and run.stderr == "", run.stderr
        assert "s3cret" not in run.stdout and f"+ eselect profile set {SPEC.profile}" in run.stdout
        assert f"+ emerge --noreplace --quiet-build=y {' '.join(SPEC.world)}" in run.stdout
    assert "+ rc-update add build-swarm-drone default" in plans["openrc"].stdout
    assert "+ systemctl enable --now sshd chronyd build-swarm-drone@box1" in plans["systemd"].stdout
    conf = [line for line in plans["openrc"].stdout.splitlines() if line.startswith(("SWARM_", "# written by"))]
    (tmp_path / "drone.conf").write_text("\n".join(conf) + "\n")
    assert read_conf(tmp_path / "drone.conf")["SWARM_BINHOST_URL"] == "http://coordinator.example/binhost/amd64"


def test_bootstrap_refuses_what_it_cannot_do_in_one_line() -> None:
    cases = [
        (("--name", "box1", "--coordinator", "http://c.example"), SECRETS, "not a Gentoo host (no /etc/gentoo-release)"),
        (("--name", "../x", "--coordinator", "http://c.example", "--dry-run"), SECRETS, "--name NAME: letters, digits"),
        (("--name", "box1", "--coordinator", "c.example", "--dry-run"), SECRETS, "--coordinator URL: the coordinator's http(s)://"),
        (("--name", "box1", "--coordinator", "http://c.example'x", "--dry-run"), SECRETS, "--coordinator URL: letters, digits"),
        (("--name", "box1", "--coordinator", "http://c.example", "--dry-run"), {"SWARM_DRONE_TOKEN": "t"}, "set SWARM_BROKER_URL"),
        (("--name", "box1", "--coordinator", "http://c.example", "--dry-run"), SECRETS | {"SWARM_DRONE_TOKEN": "a'b"}, "quotes"),
        (("--name", "box1", "--coordinator", "http://c.example", "--token", "x"), SECRETS, "unknown argument --token"),
    ]
    if Path("/etc/gentoo-release").exists():
        cases = cases[1:]
    for args, env, message in cases:
        run = bootstrap(*args, **env)
        assert run.returncode == 1 and message in run.stderr and len(run.stderr.splitlines()) == 1, (args, run.stderr)
