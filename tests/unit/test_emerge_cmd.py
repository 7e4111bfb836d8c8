"""The exact emerge command line and environment of a swarm build, each flag with the reason it is there."""

from __future__ import annotations

import pytest

from swarm_celery.domain.emerge_cmd import ENVIRONMENT, FLAGS, EmergeConfig, emerge_argv, emerge_environment, target_atom

CONFIG = EmergeConfig("http://coordinator:8080/binhost/amd64", "/var/cache/binpkgs", cores=16, slots=4)

# The command, written out in full: a change to it must change this test (and say why in FLAGS).
EXPECTED_ARGV = [
    "emerge",
    "--oneshot",  # not recorded in the drone's world file
    "--usepkg=y",  # dependencies from binary packages...
    "--getbinpkg=y",  # ...fetched from the swarm binhost
    "--binpkg-respect-use=y",  # only binaries built with the planned USE
    "--buildpkg=y",  # the target becomes a binpkg in PKGDIR
    "--usepkg-exclude=dev-libs/libxml2",  # the target itself is always built from source
    "--update",  # installed dependencies brought to the plan's versions (from the binhost)...
    "--deep",  # ...the whole dependency tree, so a := library's new sub-slot is there before the target links it...
    "--newuse",  # ...and built with the plan's USE flags
    "--reinstall-atoms=dev-libs/libxml2",  # the target is rebuilt even when installed (--update would skip it)
    "--ask=n",  # unattended whatever EMERGE_DEFAULT_OPTS says
    "--jobs=1",  # one package per emerge
    "--keep-going=n",  # the first failure ends the build: the log tail names it
    "--color=n",  # plain logs
    "--nospinner",  # no spinner noise in the log
    "--quiet-build=n",  # the build output reaches the streamed log
    "=dev-libs/libxml2-2.13.8-r1::gentoo",  # exactly the planned ebuild, from the planned repository
]


def test_argv_is_exactly_the_documented_command() -> None:
    assert emerge_argv("dev-libs/libxml2-2.13.8-r1", "gentoo") == EXPECTED_ARGV


def test_every_flag_and_variable_says_why() -> None:
    argv = emerge_argv("app-misc/tmux-3.5a", "supplement", "/usr/bin/emerge")
    documented = [flag for flag, _ in FLAGS]
    assert [a.split("=")[0] + "=" if a.startswith(("--usepkg-exclude=", "--reinstall-atoms=")) else a for a in argv[1:-1]] == documented
    assert all(len(why) > 20 for _, why in FLAGS + ENVIRONMENT)
    env = emerge_environment({}, CONFIG)
    assert sorted(env) == sorted(name for name, _ in ENVIRONMENT)


def test_the_mandatory_flags_of_a_swarm_build_are_there() -> None:
    argv = emerge_argv("sys-libs/zlib-1.3.1", "gentoo")
    for flag in ("--oneshot", "--usepkg=y", "--getbinpkg=y", "--binpkg-respect-use=y", "--buildpkg=y", "--usepkg-exclude=sys-libs/zlib"):
        assert flag in argv


def test_environment_values() -> None:
    env = emerge_environment({"PATH": "/usr/bin", "HOME": "/root", "EMERGE_DEFAULT_OPTS": "--ask --jobs=8"}, CONFIG)
    assert env["PATH"] == "/usr/bin" and env["HOME"] == "/root"  # the drone's own environment passes through
    assert env["MAKEOPTS"] == "-j4 -l16"  # 16 cores over 4 slots; load limited to the machine
    assert set(env["FEATURES"].split()) == {"buildpkg", "fail-clean", "binpkg-multi-instance"}
    assert env["BINPKG_FORMAT"] == "gpkg"
    assert env["PKGDIR"] == "/var/cache/binpkgs"
    assert env["PORTAGE_BINHOST"] == "http://coordinator:8080/binhost/amd64"
    assert env["EMERGE_DEFAULT_OPTS"] == ""
    assert (env["NOCOLOR"], env["CLEAN_DELAY"], env["EMERGE_WARNING_DELAY"], env["LC_MESSAGES"]) == ("true", "0", "0", "C")


def test_lc_all_would_hide_lc_messages_so_it_becomes_lang() -> None:
    env = emerge_environment({"LC_ALL": "de_DE.UTF-8", "LANGUAGE": "de"}, CONFIG)
    assert "LC_ALL" not in env and "LANGUAGE" not in env
    assert env["LANG"] == "de_DE.UTF-8" and env["LC_MESSAGES"] == "C"


def test_one_slot_on_one_core_still_makes_with_one_job() -> None:
    assert emerge_environment({}, EmergeConfig("https://b/amd64", "/p", cores=1, slots=4))["MAKEOPTS"] == "-j1 -l1"


@pytest.mark.parametrize(("cpv", "repo"), [
    ("dev-libs/libxml2", "gentoo"),  # no version
    ("libxml2-2.13", "gentoo"),  # no category
    ("--buildpkg=n/foo-1", "gentoo"),  # an option smuggled in as a category
    ("dev-libs/foo-1;rm -rf /", "gentoo"),  # shell syntax in the version
    ("dev-libs/foo bar-1", "gentoo"),
    ("dev-libs/foo-1", "gentoo --nodeps"),  # an option smuggled in as a repository
    ("dev-libs/foo-1", "../../etc"),
    ("dev-libs/foo-1", ""),
])
def test_malformed_targets_are_refused(cpv: str, repo: str) -> None:
    with pytest.raises(ValueError, match=r"not a|category/package-version"):
        target_atom(cpv, repo)


@pytest.mark.parametrize(("kwargs", "message"), [
    ({"binhost_url": "coordinator:8080"}, "SWARM_BINHOST_URL"),
    ({"binhost_url": ""}, "SWARM_BINHOST_URL"),
    ({"pkgdir": "binpkgs"}, "SWARM_PKGDIR"),
    ({"cores": 0}, "at least one core"),
    ({"slots": 0}, "at least one core and one slot"),
])
def test_bad_configuration_is_refused(kwargs: dict[str, object], message: str) -> None:
    values: dict[str, object] = {"binhost_url": "http://c/amd64", "pkgdir": "/p", "cores": 4, "slots": 1, **kwargs}
    with pytest.raises(ValueError, match=message):
        EmergeConfig(**values)  # type: ignore[arg-type]
