"""A real ``::gentoo`` ebuild, built by a prefix drone with the real Gentoo 23.0 profile (GENTOO-EBUILD.md's recipe).

``dev-python/six-1.17.0`` of ``../shared/gentoo/repo`` (distutils-r1, setuptools backend) is built by the drone's own
builder in a prefix laid out by ``build-swarm prefix init`` on ``default/linux/amd64/23.0``, with the plan's own
configuration (PYTHON_TARGETS, USE) as the build's configuration root. What the host provides instead of portage
(Python 3.12 and its PEP 517 backends) is the drone's ``profile/package.provided``; the sdist comes from PyPI, byte
for byte the tree's Manifest DIST entry. The tree's eclasses accept Python 3.12 and later only: the interpreter is
pyenv's 3.12 (or SWARM_TEST_PYTHON312); its venv is kept in the test cache.
"""

from __future__ import annotations

import glob
import json
import os
import shutil
import subprocess
import sys
import tempfile
from collections.abc import Iterator
from pathlib import Path

import pytest

from swarm_celery.binhost.gpkg_read import read_gpkg_metadata
from swarm_celery.domain.build_config import BuildConfig
from swarm_celery.domain.emerge_cmd import EmergeConfig
from swarm_celery.domain.model import BuildRequest
from swarm_celery.drone.emerge import EmergeBuilder
from swarm_celery.drone.prefix import EmergePrefix, SharedConfigs
from swarm_celery.drone.prefix_init import init_prefix
from tests.conftest import unavailable
from tests.realbuild import kit

pytestmark = [pytest.mark.slow, pytest.mark.skipif(os.geteuid() != 0, reason="the prefix builds as root (PORTAGE_USERNAME=root)")]

PROFILE = "default/linux/amd64/23.0"
TARGET = "dev-python/six-1.17.0"
BACKENDS = ("gpep517==19", "setuptools==84.2.1", "installer==1.1.0", "flit_core==4.2.0", "wheel==0.48.0")
PROVIDED = ("dev-lang/python-3.12.1", "dev-python/gpep517-19", "dev-python/setuptools-84.2.1", "dev-python/installer-1.1.0",
            "dev-python/flit-core-4.2.0", "dev-python/wheel-0.48.0")
PLAN_MAKE_CONF = 'PYTHON_TARGETS="python3_12"\nPYTHON_SINGLE_TARGET="python3_12"\nUSE="-test -doc"\n'


def python312() -> str:
    """A Python 3.12 that runs: SWARM_TEST_PYTHON312, pyenv's, or python3.12 on PATH (a pyenv shim may not run)."""
    candidates = [os.environ.get("SWARM_TEST_PYTHON312", ""), *sorted(glob.glob(os.path.expanduser("~/.pyenv/versions/3.12*/bin/python3.12"))),
                  shutil.which("python3.12") or ""]
    for candidate in filter(None, candidates):
        if subprocess.run([candidate, "-c", "pass"], capture_output=True, check=False).returncode == 0:
            return candidate
    unavailable("no Python 3.12 (the tree's eclasses accept 3.12 and later): set SWARM_TEST_PYTHON312")
    raise AssertionError("unreachable")


@pytest.fixture(scope="module")
def backends(portage_cache: Path) -> Path:
    """A Python 3.12 venv with the PEP 517 tools distutils-r1 runs, made once and kept in the test cache."""
    venv = portage_cache / "gentoo-py312"
    stamp = venv / ".backends"
    if not stamp.is_file() or stamp.read_text() != " ".join(BACKENDS):
        shutil.rmtree(venv, ignore_errors=True)
        subprocess.run([python312(), "-m", "venv", str(venv)], check=True, capture_output=True)
        pip = subprocess.run([str(venv / "bin" / "python"), "-m", "pip", "install", "-q", *BACKENDS], capture_output=True, text=True,
                             check=False, timeout=600)
        if pip.returncode != 0:
            unavailable(f"pip could not install {' '.join(BACKENDS)}: {pip.stderr.strip()[-300:]}")
        stamp.write_text(" ".join(BACKENDS))
    return venv


@pytest.fixture
def drone(shared: Path, backends: Path) -> Iterator[EmergePrefix]:
    base = Path(tempfile.mkdtemp(prefix="gx", dir="/tmp"))
    try:
        root = kit.padded(base / "drone")
        init_prefix(root, [shared / "gentoo" / "repo"], PROFILE, make_conf=['GENTOO_MIRRORS=""'])
        (root / "etc" / "portage" / "profile").mkdir()
        (root / "etc" / "portage" / "profile" / "package.provided").write_text("".join(f"{p}\n" for p in PROVIDED))
        wrapper = root / "usr" / "bin" / "python3.12"  # distutils-r1 runs python3.12 by name
        wrapper.write_text(f'#!/bin/sh\nexec {backends}/bin/python3.12 "$@"\n')
        wrapper.chmod(0o755)
        sdist = subprocess.run([sys.executable, "-m", "pip", "download", "-q", "--no-deps", "--no-binary", ":all:", "six==1.17.0",
                                "-d", str(root / "var" / "cache" / "distfiles")], capture_output=True, text=True, check=False, timeout=300)
        if sdist.returncode != 0:
            unavailable(f"pip could not download the six sdist: {sdist.stderr.strip()[-300:]}")
        environ = {"PATH": f"{kit.VENV_BIN}:{kit.BASE_PATH}", "HOME": str(base), "LANG": "C.UTF-8"}
        yield EmergePrefix(root, "amd64", str(kit.EMERGE), environ)
    finally:
        shutil.rmtree(base, ignore_errors=True)


def test_a_gentoo_ebuild_is_built_by_a_prefix_drone_with_the_real_profile_and_the_plans_configuration(drone: EmergePrefix) -> None:
    info = drone.check()  # what `build-swarm drone --check` shows: the real 23.0 profile, portage, gcc
    assert (info.profile, info.arch, set(info.repos)) == (PROFILE, "amd64", {"gentoo"}) and info.portage.startswith("Portage 3.0.83")
    config = BuildConfig.of("amd64", PROFILE, ("gentoo",), (("make.conf", PLAN_MAKE_CONF),))
    configs = drone.root / "configs"
    configs.mkdir()
    (configs / f"{config.digest()}.json").write_text(json.dumps(config.to_json()))
    builder = EmergeBuilder(EmergeConfig("http://127.0.0.1:9/amd64", str(info.pkgdir), cores=2, slots=1), drone.root / "logs",
                            timeout=600, min_free_mb=64, tmpdir=info.tmpdir, emerge=str(kit.EMERGE), environ=drone.environ,
                            prefix=(drone, SharedConfigs(configs)))
    request = BuildRequest("att-six", "gentoo", TARGET, "amd64", "0", "gentoo", ("python_targets_python3_12",),
                           config_hash=config.digest())
    out = builder.build(request, drone.root / "staging")
    log = builder.log_path(request).read_text()
    assert ">>> Emerging (1 of 1) dev-python/six-1.17.0::gentoo\n" in log and "six-1.17.0.tar.gz BLAKE2B SHA512 size ;-) ..." in log
    meta = read_gpkg_metadata(out.artifact)
    assert (meta["CATEGORY"], meta["PF"], meta["SLOT"], meta["repository"]) == ("dev-python", "six-1.17.0", "0", "gentoo")
    assert "python_targets_python3_12" in meta["USE"].split() and "test" not in meta["USE"].split()  # the plan's make.conf
    installed = drone.root / "usr" / "lib" / "python3.12" / "site-packages" / "six.py"
    assert installed.is_file()
    print(f"\n{TARGET} built in {out.build_seconds:.1f} s")
