"""A plan's portage configuration as a drone builds it: its hash, what a drone's own make.conf may set, and how a prefix
drone lays it out as the build's PORTAGE_CONFIGROOT, reads it back, and refuses what it cannot reproduce."""

from __future__ import annotations

import json
import os
from pathlib import Path

import pytest

from swarm_celery.domain.build_config import BuildConfig, foreign_variables, layered_make_conf, plan_part
from swarm_celery.domain.failures import FailureKind, classify_failure
from swarm_celery.drone.prefix import CONFIG_ROOTS, EmergePrefix, SharedConfigs
from swarm_celery.errors import BuildFailed, ConfigError, UploadFailed

CONFIG = BuildConfig.of("amd64", "swarm-test/amd64", ("swarm-test",),
                        (("package.use", "swarm-test/goodbye -extra"), ("make.conf", 'ACCEPT_LICENSE="*"\n'), ("package.mask", " \n")))


def test_the_configuration_is_canonical_and_its_hash_stable() -> None:
    assert [name for name, _ in CONFIG.files] == ["make.conf", "package.use"]  # canonical order, empty files left out
    assert CONFIG.file("package.use") == "swarm-test/goodbye -extra\n"  # every file ends with a newline
    assert BuildConfig.from_json(json.loads(json.dumps(CONFIG.to_json()))) == CONFIG
    assert CONFIG.digest() == BuildConfig.from_json(CONFIG.to_json()).digest() and len(CONFIG.digest()) == 24
    other = BuildConfig.of("amd64", "swarm-test/amd64", ("swarm-test",), (("make.conf", 'ACCEPT_LICENSE="*"\n'),))
    assert other.digest() != CONFIG.digest()


@pytest.mark.parametrize(("data", "message"), [
    ({"arch": "amd64", "gentoo_profile": "../../etc", "repos": ["gentoo"], "files": []}, "not a profile path"),
    ({"arch": "amd64", "gentoo_profile": "default/linux", "repos": ["gen too"], "files": []}, "not a list of repository names"),
    ({"arch": "amd64", "gentoo_profile": "default/linux", "repos": [], "files": []}, "not a list of repository names"),
    ({"arch": "amd64", "gentoo_profile": "default/linux", "repos": ["g"], "files": [["bashrc", "rm -rf /"]]}, "must be among"),
    ({"arch": "amd64", "gentoo_profile": "default/linux", "repos": ["g"], "files": "make.conf"}, "a list of files"),
    ({"arch": "amd64", "gentoo_profile": "p", "repos": ["g"], "files": [["make.conf", "x" * (1 << 20 + 1)]]}, "larger than"),
    ([1, 2], "a JSON object"),
])
def test_a_malformed_configuration_is_refused(data: object, message: str) -> None:
    with pytest.raises(ValueError, match=message):
        BuildConfig.from_json(data)


def test_a_drones_own_make_conf_may_say_where_and_how_it_builds_never_what() -> None:
    own = 'DISTDIR="/d"\nexport PKGDIR=/p\nFEATURES="${FEATURES} -sandbox"\nUSE="-X"\n  CFLAGS="-O3"\n# ACCEPT_KEYWORDS="~amd64"\n'
    assert foreign_variables(own) == ["USE", "CFLAGS"]
    layered = layered_make_conf(CONFIG.file("make.conf"), own)
    assert layered.index('ACCEPT_LICENSE="*"') < layered.index('DISTDIR="/d"')  # the drone's lines come last
    assert plan_part(layered) == CONFIG.file("make.conf")


def repo(tmp_path: Path, name: str = "swarm-test", profiles: tuple[str, ...] = ("swarm-test/amd64",)) -> Path:
    location = tmp_path / "repos" / name
    for profile in profiles:
        (location / "profiles" / profile).mkdir(parents=True)
    (location / "profiles" / "repo_name").write_text(f"{name}\n")
    return location


def prefix(tmp_path: Path, repos: dict[str, Path], make_conf: str = 'DISTDIR="/x"\n') -> EmergePrefix:
    root = tmp_path / "prefix"
    (root / "etc" / "portage" / "repos.conf").mkdir(parents=True)
    (root / "etc" / "portage" / "make.conf").write_text(make_conf)
    text = "".join(f"[{name}]\nlocation = {path}\n" for name, path in repos.items())
    (root / "etc" / "portage" / "repos.conf" / "swarm.conf").write_text(text)
    return EmergePrefix(root, "amd64", "emerge", {"PATH": "/usr/bin"})


def test_a_build_gets_the_plans_configuration_as_its_own_config_root(tmp_path: Path) -> None:
    drone = prefix(tmp_path, {"swarm-test": repo(tmp_path)})
    root = drone.config_root(CONFIG, CONFIG.digest())
    assert root == drone.root / CONFIG_ROOTS / CONFIG.digest()
    etc = root / "etc" / "portage"
    assert os.readlink(etc / "make.profile") == str(tmp_path / "repos" / "swarm-test" / "profiles" / "swarm-test" / "amd64")
    assert (etc / "make.conf").read_text().endswith('DISTDIR="/x"\n') and (etc / "package.use").read_text() == "swarm-test/goodbye -extra\n"
    assert "main-repo = swarm-test" in (etc / "repos.conf").read_text()
    assert drone.read_back(etc) == CONFIG
    assert drone.config_root(CONFIG, CONFIG.digest()) == root  # laid out once, checked every time
    env = drone.env(root)
    assert (env["PORTAGE_OVERRIDE_EPREFIX"], env["PORTAGE_CONFIGROOT"]) == (str(drone.root), str(root))
    assert env["PATH"].split(":")[:3] == [f"{drone.root}/usr/lib/build-swarm/bin", f"{drone.root}/usr/bin", "/usr/bin"]


def refused(drone: EmergePrefix, config: BuildConfig, config_hash: str = "") -> str:
    with pytest.raises(BuildFailed) as caught:
        drone.config_root(config, config_hash or config.digest())
    line = caught.value.log_tail
    why = classify_failure(line)
    assert (why.kind, why.infrastructure, why.line) == (FailureKind.CONFIG, True, line)  # retried elsewhere, against this drone
    return line


def test_what_the_drone_cannot_reproduce_it_refuses(tmp_path: Path) -> None:
    drone = prefix(tmp_path, {"swarm-test": repo(tmp_path)})
    other_profile = BuildConfig.of("amd64", "swarm-test/amd64/desktop", ("swarm-test",), CONFIG.files)
    assert "profile swarm-test/amd64/desktop is not in" in refused(drone, other_profile)
    with_gentoo = BuildConfig.of("amd64", "swarm-test/amd64", ("swarm-test", "gentoo"), CONFIG.files)
    assert "repository gentoo of the plan is not in" in refused(drone, with_gentoo)
    arm = BuildConfig.of("arm64", "swarm-test/amd64", ("swarm-test",), CONFIG.files)
    assert "the plan is for arm64, this drone builds amd64" in refused(drone, arm)
    assert f"hashes to {CONFIG.digest()}" in refused(drone, CONFIG, "0" * 24)


def test_a_configuration_changed_after_it_was_laid_out_is_laid_out_again(tmp_path: Path) -> None:
    drone = prefix(tmp_path, {"swarm-test": repo(tmp_path)})
    root = drone.config_root(CONFIG, CONFIG.digest())
    (root / "etc" / "portage" / "package.use").write_text("swarm-test/goodbye extra\n")  # someone edited it
    assert drone.config_root(CONFIG, CONFIG.digest()) == root and drone.read_back(root / "etc" / "portage") == CONFIG
    with (drone.config / "make.conf").open("a") as conf:  # the drone's own settings changed: the next build has them
        conf.write('PORTAGE_NICENESS="5"\n')
    assert (drone.config_root(CONFIG, CONFIG.digest()) / "etc" / "portage" / "make.conf").read_text().endswith('PORTAGE_NICENESS="5"\n')


def test_a_laid_out_configuration_is_not_fetched_again(tmp_path: Path) -> None:
    class Unreachable:
        def build_config(self, config_hash: str) -> BuildConfig:
            raise UploadFailed("the coordinator is down")

    drone = prefix(tmp_path, {"swarm-test": repo(tmp_path)})
    with pytest.raises(BuildFailed, match="it could not be fetched: the coordinator is down"):
        drone.prepare(CONFIG.digest(), Unreachable())
    root = drone.config_root(CONFIG, CONFIG.digest())
    assert drone.prepare(CONFIG.digest(), Unreachable()) == root


def test_a_drone_make_conf_that_sets_what_the_plan_decides_is_refused(tmp_path: Path) -> None:
    drone = prefix(tmp_path, {"swarm-test": repo(tmp_path)}, 'DISTDIR="/x"\nUSE="-extra"\n')
    assert "sets USE, which the plan decides" in refused(drone, CONFIG)


def test_the_configuration_comes_by_its_hash(tmp_path: Path) -> None:
    drone = prefix(tmp_path, {"swarm-test": repo(tmp_path)})
    shared = SharedConfigs(tmp_path / "build-configs")
    with pytest.raises(BuildFailed, match=r"it could not be fetched: .* does not exist"):
        drone.prepare(CONFIG.digest(), shared)
    with pytest.raises(BuildFailed, match="the build request names no configuration"):
        drone.prepare("", shared)
    shared.directory.mkdir()
    (shared.directory / f"{CONFIG.digest()}.json").write_text(json.dumps(CONFIG.to_json()))
    assert drone.prepare(CONFIG.digest(), shared).name == CONFIG.digest()
    with pytest.raises(UploadFailed):
        shared.build_config("../../etc/passwd")


def test_the_prefixs_own_profile_must_be_one_of_its_repositories(tmp_path: Path) -> None:
    drone = prefix(tmp_path, {"swarm-test": repo(tmp_path)})
    with pytest.raises(ConfigError, match=r"make.profile is missing: point it at a profile"):
        drone.check()
    (drone.config / "make.profile").symlink_to(tmp_path / "elsewhere")
    with pytest.raises(ConfigError, match=r"points at .*elsewhere, which does not exist"):
        drone.check()
