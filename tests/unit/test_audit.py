"""The golden-drone audit (domain.audit, domain.audit_facts): the spec's validation, the facts parser against good,
garbled and hostile output, and the judge's verdict per check, table by table."""

from __future__ import annotations

import email.utils

import pytest

from swarm_celery.domain.audit import DroneSpec, Status, exit_code, facts_argv, facts_command, judge, parse_spec
from swarm_celery.domain.audit_facts import MAX_CHARS, MAX_ITEMS, MAX_LINE, DroneFacts, parse_facts

NOW = 1_800_000_000
SPEC = DroneSpec(profile="default/linux/amd64/23.0", arch="amd64", max_tree_age_hours=48, min_version="0.1.0",
                 world=("dev-vcs/git", "net-misc/openssh"), forbidden=("sys-devel/distcc", "*/*-9999"), min_installed=3,
                 max_installed=5, commands=("emerge", "git"), directories=("/var/cache/binpkgs",), files=("/etc/portage/make.conf",),
                 enabled=("build-swarm-drone", "sshd"), running=("build-swarm-drone",), features=("sandbox", "userpriv"),
                 forbidden_features=("keepwork",))
SECTIONS = {
    "now": str(NOW), "machine": "x86_64", "profile": "../../var/db/repos/gentoo/profiles/default/linux/amd64/23.0",
    "tree": email.utils.formatdate(NOW - 7200), "version": "0.1.0", "features": "known\nsandbox userpriv parallel-fetch",
    "commands": "emerge /usr/bin/emerge\ngit /usr/bin/git", "paths": "d /var/cache/binpkgs\nf /etc/portage/make.conf",
    "manager": "openrc", "enabled": "sshd\nbuild-swarm-drone.box1\nnet.lo", "running": "build-swarm-drone.box1",
    "world": "dev-vcs/git\nnet-misc/openssh", "installed": "sys-libs/glibc-2.40-r5\ndev-vcs/git-2.47.1\nnet-misc/openssh-9.9_p1-r1",
}


def output(**changes: str | None) -> str:
    """The facts command's output, a section changed (None: left out)."""
    sections = SECTIONS | changes
    body = "".join(f"@@ {name}\n{text}\n" if text else f"@@ {name}\n" for name, text in sections.items() if text is not None)
    return f"@@ build-swarm-facts 1\n{body}@@ end\n"


# --- the spec -------------------------------------------------------------------------------------------------------

GOOD = 'format = 1\n[system]\nprofile = "default/linux/amd64/23.0"\narch = "amd64"\n'


def test_a_minimal_spec_and_the_defaults() -> None:
    spec = parse_spec(GOOD + '[packages]\nworld = ["dev-vcs/git"]\nmax_installed = 9\n')
    assert (spec.profile, spec.arch, spec.world, spec.max_installed, spec.tree) == (
        "default/linux/amd64/23.0", "amd64", ("dev-vcs/git",), 9, "/var/db/repos/gentoo")


@pytest.mark.parametrize(("text", "message"), [
    ("format = 1\n[system\n", r"spec.toml: not valid TOML: "),
    ('[system]\nprofile = "p"\narch = "amd64"\n', r"format = 1 is missing at the top"),
    (GOOD + "[networking]\nmtu = 1\n", r"unknown table \[networking\] \(known: \[system\], \[build_swarm\]"),
    (GOOD.replace('arch = "amd64"', 'arch = "amd64"\nprofil = "x"'), r"unknown key system.profil \(known in \[system\]: profile, arch"),
    (GOOD.replace("default/linux/amd64/23.0", "default linux"), r"system.profile = 'default linux' should be a profile path"),
    (GOOD.replace('"amd64"', '"x86_64"'), r"system.arch = 'x86_64' should be one of alpha, amd64, arm, arm64"),
    (GOOD + "tree_x = 1\n", r"unknown key system.tree_x"),
    (GOOD.replace('arch = "amd64"', 'arch = "amd64"\ntree = "var/db/repos/gentoo"'), r"system.tree = 'var/db/repos/gentoo' should be an absolute path"),
    (GOOD.replace('arch = "amd64"', 'arch = "amd64"\ntree = "/var/../etc"'), r"system.tree = '/var/../etc' should be an absolute path"),
    (GOOD.replace('arch = "amd64"', 'arch = "amd64"\nmax_tree_age_hours = 0'), r"system.max_tree_age_hours = '0' should be a number of hours"),
    (GOOD.replace('arch = "amd64"', 'arch = "amd64"\nmax_tree_age_hours = true'), r"max_tree_age_hours = 'True' should be a number of hours"),
    (GOOD + "[packages]\nmin_installed = -1\n", r"packages.min_installed = '-1' should be a whole number"),
    (GOOD + "[packages]\nmax_installed = 2.5\n", r"packages.max_installed = '2.5' should be a whole number"),
    (GOOD + "[packages]\nmin_installed = 9\nmax_installed = 3\n", r"packages.min_installed is above packages.max_installed"),
    (GOOD + '[packages]\nworld = "dev-vcs/git"\n', r"packages.world = 'dev-vcs/git' should be a list of atoms \(not 'dev-vcs/git'\)"),
    (GOOD + '[packages]\nworld = ["dev-vcs/git", "git; rm -rf /"]\n', r"should be a list of atoms \(not 'git; rm -rf /'\)"),
    (GOOD + '[packages]\nforbidden = ["distcc"]\n', r"packages.forbidden = .* should be a list of category/package patterns"),
    (GOOD + '[commands]\nrequired = ["gcc", "$(reboot)"]\n', r"commands.required = .* should be a list of command names \(not '\$\(reboot\)'\)"),
    (GOOD + '[paths]\nfiles = ["/etc/ok", "relative"]\n', r"paths.files = .* should be a list of absolute paths \(not 'relative'\)"),
    (GOOD + '[services]\nenabled = [1]\n', r"services.enabled = .* should be a list of service names \(not '1'\)"),
    (GOOD + '[build_swarm]\nmin_version = "latest"\n', r"build_swarm.min_version = 'latest' should be a version like 0.1.0"),
    ('format = 1\n[system]\narch = "amd64"\n', r"system.profile is missing: add it to \[system\]"),
    ('format = 1\n[system]\nprofile = "default/linux/amd64/23.0"\n', r"system.arch is missing"),
    (GOOD + "[make_conf]\nfeatures = [\"sandbox\", \"\"]\n", r"make_conf.features = .* should be a list of FEATURES"),
])
def test_a_bad_spec_is_one_line_naming_the_key(text: str, message: str) -> None:
    with pytest.raises(ValueError, match=message) as caught:
        parse_spec(text)
    assert "\n" not in str(caught.value)


def test_the_facts_command_passes_the_spec_as_arguments() -> None:
    argv = facts_argv(SPEC)
    assert argv[:2] == ["sh", "-c"] and argv[3:] == ["build-swarm-facts", "", "/var/db/repos/gentoo", "/opt/build-swarm/venv", "2",
                                                      "emerge", "git", "/var/cache/binpkgs", "/etc/portage/make.conf"]
    assert facts_command(SPEC).startswith("sh -c '") and facts_command(SPEC).endswith(" /etc/portage/make.conf")


# --- the facts ------------------------------------------------------------------------------------------------------

def test_good_output_is_read() -> None:
    facts = parse_facts(output())
    assert facts.complete and facts.problems == ()
    assert (facts.now, facts.machine, facts.profile, facts.version, facts.manager) == (NOW, "x86_64", "default/linux/amd64/23.0", "0.1.0", "openrc")
    assert facts.features == ("sandbox", "userpriv", "parallel-fetch") and facts.commands == {"emerge": "/usr/bin/emerge", "git": "/usr/bin/git"}
    assert facts.paths == {"/var/cache/binpkgs": "directory", "/etc/portage/make.conf": "file"}
    assert facts.enabled == {"sshd", "build-swarm-drone.box1", "net.lo"} and len(facts.installed) == 3


@pytest.mark.parametrize(("text", "complete", "problem"), [
    ("", False, "not the output of the facts command"),
    ("Welcome to host!\n" + output(), False, "not the output of the facts command"),  # the header must come first
    (output().replace("@@ end\n", ""), False, "the output stops before '@@ end' (cut short)"),
    (output()[: len(output()) // 2], False, "cut short"),
    (output().replace("@@ version\n0.1.0\n", "@@ version\n0.1.0\n@@ version\n9.9.9\n"), True, "section 'version' appears twice"),
    (output(installed="dev-vcs/git-2.47\n$(rm -rf /)\n../../etc/passwd\nnot a package"), True, "installed: 3 unreadable lines ignored"),
    (output(commands="emerge\ngit /usr/bin/git"), True, "commands: unreadable line 'emerge'"),
    (output(paths="x /var/cache/binpkgs\nd relative\nf /etc/portage/make.conf"), True, "paths: unreadable line 'x /var/cache/binpkgs'"),
    ("X" * (MAX_CHARS + 10), False, f"over {MAX_CHARS} characters"),
])
def test_garbled_output_gives_unknowns_and_problems_never_an_error(text: str, complete: bool, problem: str) -> None:
    facts = parse_facts(text)
    assert facts.complete is complete and any(problem in p for p in facts.problems), facts.problems


def test_hostile_output_is_bounded_and_defanged() -> None:
    escape = "\x1b]52;c;cm0gLXJmIC8=\x07\x1b[2J"  # set the clipboard, clear the screen
    many = "\n".join(f"cat/pkg{i}-1" for i in range(MAX_ITEMS + 50))
    facts = parse_facts(output(version=f"0.1.0{escape}", machine="x" * 10_000, installed=many, manager="upstart", now="soon",
                               profile="/etc/\x00evil", features="known"))
    assert facts.complete and "\x1b" not in facts.version and "\x07" not in facts.version and facts.version.startswith("0.1.0?")
    assert len(facts.machine) == MAX_LINE and len(facts.installed) == MAX_ITEMS
    assert (facts.manager, facts.now, facts.features) == ("none", None, None)  # portageq said nothing: unknown, not empty
    assert "\x00" not in facts.profile


# --- the judgement --------------------------------------------------------------------------------------------------

def verdicts(text: str, spec: DroneSpec = SPEC) -> dict[str, tuple[Status, str]]:
    return {check.name: (check.status, check.message) for check in judge(spec, parse_facts(text))}


def test_a_golden_drone_passes_everything() -> None:
    checks = judge(SPEC, parse_facts(output()))
    assert [(c.name, c.status) for c in checks if c.status != Status.PASS] == [] and exit_code(checks) == 0
    assert [c.name for c in checks] == ["facts", "profile", "arch", "tree", "build-swarm", "features", "world", "forbidden", "installed",
                                        "commands", "paths", "enabled", "running"]


@pytest.mark.parametrize(("changes", "name", "status", "message"), [
    ({"profile": "/var/db/repos/gentoo/profiles/default/linux/amd64/23.0/desktop"}, "profile", Status.FAIL,
     "is default/linux/amd64/23.0/desktop: should be default/linux/amd64/23.0"),
    ({"profile": None}, "profile", Status.FAIL, "is not set (no /etc/portage/make.profile)"),
    ({"machine": "aarch64"}, "arch", Status.FAIL, "the machine is aarch64 (arm64): should be amd64"),
    ({"machine": "pdp11"}, "arch", Status.FAIL, "the machine is pdp11 (no Gentoo arch)"),
    ({"tree": email.utils.formatdate(NOW - 50 * 3600)}, "tree", Status.FAIL, "synced 50.0 h ago, over 48 h"),
    ({"tree": "garbage"}, "tree", Status.FAIL, "no readable /var/db/repos/gentoo/metadata/timestamp.chk"),
    ({"tree": email.utils.formatdate(NOW + 3 * 3600)}, "tree", Status.WARN, "in the future: is the host's clock right?"),
    ({"now": None}, "tree", Status.FAIL, "no readable"),
    ({"version": "0.0.9"}, "build-swarm", Status.FAIL, "0.0.9 is older than 0.1.0"),
    ({"version": "0.1"}, "build-swarm", Status.PASS, "0.1"),
    ({"version": "0.10.0.dev3+g1234"}, "build-swarm", Status.PASS, "0.10.0.dev3+g1234"),
    ({"version": None}, "build-swarm", Status.FAIL, "not installed in /opt/build-swarm/venv"),
    ({"features": None}, "features", Status.WARN, "portageq is missing"),
    ({"features": "known\nsandbox"}, "features", Status.FAIL, "missing userpriv"),
    ({"features": "known\nsandbox userpriv keepwork"}, "features", Status.FAIL, "keepwork must be off (-keepwork in make.conf)"),
    ({"world": "dev-vcs/git"}, "world", Status.FAIL, "missing net-misc/openssh (emerge --noreplace them)"),
    ({"world": "dev-vcs/git\nnet-misc/openssh\nwww-client/firefox"}, "world", Status.WARN, "not in the spec: www-client/firefox"),
    ({"installed": "sys-devel/distcc-3.4-r3\ndev-vcs/git-9999\nnet-misc/openssh-9.9"}, "forbidden", Status.FAIL,
     "installed: sys-devel/distcc-3.4-r3, dev-vcs/git-9999 (emerge --depclean them)"),
    ({"installed": "dev-vcs/git-2.47.1"}, "installed", Status.FAIL, "1 packages: should be 3 to 5"),
    ({"installed": "\n".join(f"a/b{i}-1" for i in range(6))}, "installed", Status.FAIL, "6 packages: should be 3 to 5"),
    ({"commands": "emerge -\ngit /usr/bin/git"}, "commands", Status.FAIL, "not on PATH: emerge"),
    ({"commands": "git /usr/bin/git"}, "commands", Status.FAIL, "not on PATH: emerge"),
    ({"paths": "f /var/cache/binpkgs\n- /etc/portage/make.conf"}, "paths", Status.FAIL,
     "/var/cache/binpkgs is file, should be a directory; /etc/portage/make.conf is missing, should be a file"),
    ({"enabled": "build-swarm-drone.box1"}, "enabled", Status.FAIL, "not enabled: sshd (rc-update add sshd default)"),
    ({"running": "sshd"}, "running", Status.FAIL, "not running: build-swarm-drone (rc-service build-swarm-drone start)"),
    ({"manager": "systemd", "enabled": "sshd.service\nbuild-swarm-drone@box1.service", "running": "build-swarm-drone@box1.service"},
     "enabled", Status.PASS, "2 services"),
    ({"manager": "systemd", "running": "sshd.service"}, "running", Status.FAIL, "(systemctl start build-swarm-drone)"),
    ({"manager": "none"}, "enabled", Status.WARN, "neither OpenRC nor systemd runs here: cannot tell"),
    ({"commands": "emerge /usr/bin/emerge\ngit /usr/bin/git\ngit -\nbroken"}, "facts", Status.WARN, "commands: unreadable line 'broken'"),
])
def test_each_check_says_what_is_wrong_and_how_to_fix_it(changes: dict[str, str | None], name: str, status: Status, message: str) -> None:
    found = verdicts(output(**changes))
    assert found[name][0] == status and message in found[name][1], found[name]


def test_facts_that_are_not_whole_fail_alone() -> None:
    checks = judge(SPEC, parse_facts(output().replace("@@ end\n", "")))
    assert [(c.name, c.status) for c in checks] == [("facts", Status.FAIL)] and "cut short" in checks[0].message
    assert exit_code(checks) == 2 and exit_code(judge(SPEC, DroneFacts())) == 2


@pytest.mark.parametrize(("statuses", "code"), [
    ([], 0), ([Status.PASS], 0), ([Status.PASS, Status.WARN], 1), ([Status.WARN, Status.FAIL, Status.PASS], 2), ([Status.FAIL], 2)])
def test_the_exit_code_is_the_worst_status(statuses: list[Status], code: int) -> None:
    from swarm_celery.domain.audit import Check

    assert exit_code([Check("c", s, "") for s in statuses]) == code
