"""CPV splitting, durations parsing, world parsing, config hashing, JSON round trips."""

from __future__ import annotations

import pytest

from swarm_celery.domain.config import ResolveRequest, check_atom_shape, foreign_keywords, parse_world
from swarm_celery.domain.cpv import split_cpv
from swarm_celery.domain.durations import DEFAULT_SECONDS, Durations, parse_durations
from swarm_celery.domain.model import BuildRequest, BuildResult, Outcome


@pytest.mark.parametrize(
    ("cpv", "pn", "pv", "rev"),
    [
        ("sys-libs/zlib-1.3.1-r1", "zlib", "1.3.1", "r1"),
        ("sys-libs/ncurses-6.5_p20251220", "ncurses", "6.5_p20251220", ""),
        ("dev-lang/python-3.12.8_rc1-r2", "python", "3.12.8_rc1", "r2"),
        ("app-misc/tmux-3.5a", "tmux", "3.5a", ""),
        ("dev-perl/Locale-gettext-1.70.0-r2", "Locale-gettext", "1.70.0", "r2"),
        ("virtual/perl-IO-1", "perl-IO", "1", ""),
        ("x11-libs/gtk+-3.24.41", "gtk+", "3.24.41", ""),
    ],
)
def test_split_cpv(cpv: str, pn: str, pv: str, rev: str) -> None:
    parts = split_cpv(cpv)
    assert (parts.package, parts.version, parts.revision) == (pn, pv, rev)
    assert str(parts) == cpv


@pytest.mark.parametrize("bad", ["zlib-1.3", "sys-libs/zlib", "sys-libs/-1.0", "/zlib-1"])
def test_split_cpv_rejects_malformed(bad: str) -> None:
    with pytest.raises(ValueError, match="not a category/package-version"):
        split_cpv(bad)


def test_durations_lookup_and_default() -> None:
    table = parse_durations("package,seconds,n_obs\nsys-devel/gcc,3600,4\ndev-libs/expat,12.5,1\n")
    durations = Durations(table)
    assert durations.for_cpv("sys-devel/gcc-14.2.1_p20250301") == 3600
    assert durations.for_cpv("dev-libs/expat-2.7.1") == 12.5
    assert durations.for_cpv("app-misc/unknown-1") == DEFAULT_SECONDS


@pytest.mark.parametrize(
    ("text", "message"),
    [("pkg,secs\na/b,1\n", "columns"), ("package,seconds\na/b,fast\n", "line 2"), ("package,seconds\nnoslash,1\n", "line 2")],
)
def test_durations_reject_bad_csv(text: str, message: str) -> None:
    with pytest.raises(ValueError, match=message):
        parse_durations(text)


def test_parse_world_skips_comments_blanks_and_duplicates() -> None:
    assert parse_world("# world\napp-misc/tmux\n\nsys-process/htop # top\napp-misc/tmux\n") == ("app-misc/tmux", "sys-process/htop")


def test_config_hash_is_stable_and_sensitive() -> None:
    base = ResolveRequest(repos=("/r",), gentoo_profile="p", arch="amd64", world=("a/b", "c/d"))
    same = ResolveRequest(repos=("/r",), gentoo_profile="p", arch="amd64", world=("c/d", "a/b"))
    other_arch = ResolveRequest(repos=("/r",), gentoo_profile="p", arch="arm64", world=("a/b", "c/d"))
    other_world = ResolveRequest(repos=("/r",), gentoo_profile="p", arch="amd64", world=("a/b",))
    assert base.config_hash() == same.config_hash()
    assert base.config_hash() != other_arch.config_hash()
    assert base.baseline_hash() == other_world.baseline_hash()
    assert ResolveRequest.from_json(base.to_json()) == base


def test_messages_round_trip_as_json() -> None:
    request = BuildRequest("a" * 32, "5e5510", "app-misc/tmux-3.5a", "amd64", "0", "gentoo", ("utempter",))
    assert BuildRequest.from_json(request.to_json()) == request
    result = BuildResult("a" * 32, "drone-1", Outcome.SUCCESS, "/x.gpkg.tar", "ab" * 32, 10, "ok", 1.0, 2.0, True)
    assert BuildResult.from_json(result.to_json()) == result


def test_settings_from_env_and_bad_numbers() -> None:
    from pathlib import Path

    from swarm_celery.errors import ConfigError
    from swarm_celery.settings import Settings

    settings = Settings.from_env({"SWARM_HOME": "/srv/swarm", "SWARM_TIME_SCALE": "0.5", "SWARM_SIMULATE_FAIL": "a/b,c/d"})
    assert settings.home == Path("/srv/swarm") and settings.time_scale == 0.5
    assert settings.database == "sqlite:////srv/swarm/swarm.db" and settings.simulate_fail == ("a/b", "c/d")
    assert Settings.from_env(settings.to_env()).time_scale == 0.5
    with pytest.raises(ConfigError, match="SWARM_TIME_SCALE='fast' is not a number"):
        Settings.from_env({"SWARM_TIME_SCALE": "fast"})


@pytest.mark.parametrize("atom", ["app-misc/tmux", ">=dev-libs/foo-1.2", "=sys-libs/glibc-2.43-r2", "dev-lang/python:3.12",
                                  "app-misc/tmux::gentoo", "dev-libs/foo[ssl,-x]", "sys-devel/gcc:14/14", "~dev-libs/foo-1"])
def test_atom_shape_accepts_atoms(atom: str) -> None:
    assert check_atom_shape(atom) == atom


@pytest.mark.parametrize("atom", ["not an atom!", "tmux", "a/b; rm -rf /", "$(x)/y", "app-misc/tmux`id`", "", "/tmux"])
def test_atom_shape_refuses_what_is_no_atom(atom: str) -> None:
    with pytest.raises(ValueError, match="is not a package atom: expected category/package"):
        check_atom_shape(atom)


@pytest.mark.parametrize(("make_conf", "arch", "foreign"), [
    ('ACCEPT_KEYWORDS="amd64"\n', "arm64", ["amd64"]),
    ('ACCEPT_KEYWORDS="amd64"\n', "amd64", []),
    ("ACCEPT_KEYWORDS='~arm64 ~amd64'  # both\n", "arm64", ["~amd64"]),
    ('ACCEPT_KEYWORDS="${ACCEPT_KEYWORDS} -amd64 ~arm64"\n', "arm64", []),
    ('export ACCEPT_KEYWORDS="x86"\nFEATURES="amd64"\n', "amd64", ["x86"]),
    ('# ACCEPT_KEYWORDS="amd64"\nCFLAGS="-O2"\n', "arm64", []),
])
def test_make_conf_keywords_of_another_arch_are_found(make_conf: str, arch: str, foreign: list[str]) -> None:
    assert foreign_keywords(make_conf, arch) == foreign
