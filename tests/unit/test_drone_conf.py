"""drone.conf: SWARM_* assignments, nothing expanded or executed, every mistake named with its line."""

from __future__ import annotations

from pathlib import Path

import pytest

from swarm_celery.errors import ConfigError
from swarm_celery.settings import Settings, drone_conf_path, read_conf


def conf(tmp_path: Path, text: str) -> Path:
    path = tmp_path / "drone.conf"
    path.write_text(text)
    return path


def test_assignments_comments_quotes_and_export(tmp_path: Path) -> None:
    values = read_conf(conf(tmp_path, """
# the NAS in the hall
SWARM_BROKER_URL=redis://coordinator:6379/0
export SWARM_ARCH=arm64
SWARM_SLOTS="2"   # it has 8 cores
SWARM_BINHOST_URL='http://coordinator:8080/binhost/arm64'
SWARM_DRONE_NAME=nas
SWARM_PKGDIR=/var/cache/binpkgs\t
"""))
    assert values == {"SWARM_BROKER_URL": "redis://coordinator:6379/0", "SWARM_ARCH": "arm64", "SWARM_SLOTS": "2",
                      "SWARM_BINHOST_URL": "http://coordinator:8080/binhost/arm64", "SWARM_DRONE_NAME": "nas",
                      "SWARM_PKGDIR": "/var/cache/binpkgs"}
    settings = Settings.from_env(values)
    assert (settings.arch, settings.slots, settings.name, str(settings.pkgdir)) == ("arm64", 2, "nas", "/var/cache/binpkgs")


def test_nothing_is_expanded_or_run(tmp_path: Path) -> None:
    values = read_conf(conf(tmp_path, "SWARM_DRONE_NAME='$(touch /tmp/pwned)'\nSWARM_HOME=$HOME/swarm\n"))
    assert values == {"SWARM_DRONE_NAME": "$(touch /tmp/pwned)", "SWARM_HOME": "$HOME/swarm"}


@pytest.mark.parametrize(("text", "message"), [
    ("SWARM_SLOTZ=2\n", r"drone.conf:1: unknown setting SWARM_SLOTZ"),
    ("# ok\nslots = 2\n", r"drone.conf:2: expected SWARM_NAME=value, got 'slots = 2'"),
    ("PATH=/tmp/evil\n", r"drone.conf:1: expected SWARM_NAME=value"),
    ("SWARM_DATABASE_URL=postgresql://swarm:secret@db/swarm\n", r"drone.conf:1: a drone holds no database credentials"),
    ("SWARM_DRONE_NAME='nas\n", r"drone.conf:1: No closing quotation in the value of SWARM_DRONE_NAME"),
])
def test_mistakes_name_the_line(tmp_path: Path, text: str, message: str) -> None:
    with pytest.raises(ConfigError, match=message):
        read_conf(conf(tmp_path, text))


def test_a_missing_file_says_so(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match=r"cannot read .*nope.conf: No such file or directory"):
        read_conf(tmp_path / "nope.conf")


def test_a_named_drone_reads_its_own_conf_first_then_the_shared_one(tmp_path: Path) -> None:
    assert drone_conf_path("box2", tmp_path) is None  # neither exists: the environment alone
    (tmp_path / "drone.conf").write_text("SWARM_ARCH=amd64\n")
    assert drone_conf_path("box2", tmp_path) == tmp_path / "drone.conf"
    (tmp_path / "drone-box2.conf").write_text("SWARM_ARCH=arm64\n")
    assert drone_conf_path("box2", tmp_path) == tmp_path / "drone-box2.conf"  # build-swarm-drone@box2
    assert drone_conf_path("box3", tmp_path) == tmp_path / "drone.conf"
    (tmp_path / "drone-.conf").write_text("SWARM_ARCH=arm64\n")
    assert drone_conf_path("", tmp_path) == tmp_path / "drone.conf"  # no name: the host's name is not guessed here
    assert drone_conf_path("../drone-box2", tmp_path) == tmp_path / "drone.conf"  # a name is never a path
