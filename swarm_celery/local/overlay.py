"""The shipped ``swarm-test`` overlay: real EAPI 8 ebuilds of small C programs, built for real by ``demo --builder emerge``.

``swarm_celery/data/realbuild/overlay`` holds the ebuilds and their own ``swarm-test/amd64`` profile (no Gentoo
tree needed: the host's gcc and make build them); ``data/realbuild/sources/<P>/`` the source of each. A usable
copy (:func:`make_overlay`) has each package's tarball, made reproducibly (``tar --sort=name --mtime=@0 … | gzip -n``,
the same bytes every time), in ``<overlay>/distfiles`` and the Manifests ``ebuild … manifest`` writes for them.

The packages: ``libgreet`` (a shared library whose sub-slot is its soname), ``hello`` and ``goodbye`` (linked to it,
``:=``), ``greetgen`` (a build-time tool) and ``phrasebook`` (built with it), ``greetings`` (needs the three programs
at run time); ``greet-suite`` and ``greet-extras`` (a PDEPEND cycle); ``broken``, ``missing``, ``needs-ghost`` fail
on purpose (compile error, a missing distfile, a dependency nobody has).
"""

from __future__ import annotations

import shutil
import subprocess
import tempfile
from pathlib import Path

from swarm_celery.domain.emerge_cmd import prefix_environment
from swarm_celery.drone.prefix_init import init_prefix
from swarm_celery.errors import ConfigError

SHIPPED = Path(__file__).resolve().parent.parent / "data" / "realbuild"
OVERLAY = SHIPPED / "overlay"
SOURCES = SHIPPED / "sources"
REPO_NAME = "swarm-test"
CATEGORY = "swarm-test"
PROFILE = "swarm-test/amd64"  # profiles/profiles.desc: amd64 swarm-test/amd64 stable
WORLD = ("swarm-test/greetings",)  # what the demo builds: libgreet, greetgen, hello, goodbye, phrasebook, greetings
MISSING_DISTFILES = ("missing-1.tar.gz",)  # made for the Manifest, then removed: no mirror has them
ACCEPT_LICENSE = 'ACCEPT_LICENSE="*"\n'  # the overlay has no license groups: a plan's make.conf accepts every license


def distdir(overlay: Path) -> Path:
    """Where :func:`make_overlay` puts the tarballs (portage's old in-tree DISTDIR place; not a category, so ignored)."""
    return overlay / "distfiles"


def make_tarball(source: Path, dest: Path) -> Path:
    """``<dest>/<P>.tar.gz`` holding ``<P>/...`` from ``source``: the same bytes every time (no mtimes, owners or gzip name)."""
    dest.mkdir(parents=True, exist_ok=True)
    tarball = dest / f"{source.name}.tar.gz"
    tar = subprocess.run(["tar", "--sort=name", "--mtime=@0", "--owner=0", "--group=0", "--numeric-owner", "-cf", "-",
                          "-C", str(source.parent), source.name], capture_output=True, check=True)
    tarball.write_bytes(subprocess.run(["gzip", "-n", "-9"], input=tar.stdout, capture_output=True, check=True).stdout)
    return tarball


def make_overlay(dest: Path, emerge: str) -> Path:
    """A copy of the shipped overlay at ``dest`` with its tarballs in :func:`distdir` and real Manifests (``emerge``'s
    sibling ``ebuild`` writes them, in a scratch prefix)."""
    shutil.copytree(OVERLAY, dest)
    for source in sorted(p for p in SOURCES.iterdir() if p.is_dir()):
        make_tarball(source, distdir(dest))
    ebuild = str(Path(emerge).with_name("ebuild"))
    with tempfile.TemporaryDirectory(prefix="swarm-manifest-") as scratch:
        root = Path(scratch) / "p"
        init_prefix(root, [dest], PROFILE, make_conf=[f'DISTDIR="{distdir(dest)}"'])
        env = prefix_environment({"PATH": "/usr/local/bin:/usr/bin:/bin", "HOME": scratch, "LANG": "C.UTF-8"}, str(root))
        for path in sorted(dest.glob(f"{CATEGORY}/*/*.ebuild")):
            run = subprocess.run([ebuild, str(path), "manifest"], env=env, capture_output=True, text=True, check=False)
            if run.returncode != 0:
                raise ConfigError(f"`ebuild {path.name} manifest` failed: {(run.stdout + run.stderr).strip()[-300:]}")
    for name in MISSING_DISTFILES:
        (distdir(dest) / name).unlink()
    return dest


__all__ = ["ACCEPT_LICENSE", "CATEGORY", "OVERLAY", "PROFILE", "REPO_NAME", "SHIPPED", "SOURCES", "WORLD", "distdir", "make_overlay",
           "make_tarball"]
