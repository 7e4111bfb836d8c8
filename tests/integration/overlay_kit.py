"""Tiny fixture overlays on top of the shipped synthetic repository, for resolving real portage against edited trees.

Each ebuild gets an md5-dict cache entry whose ``_md5_`` matches it (as egencache writes), so portage
never sources an ebuild. Written only under the test's tmp_path.
"""

from __future__ import annotations

import hashlib
from pathlib import Path

from swarm_celery.domain.config import ResolveRequest
from swarm_celery.domain.identity import cp_of
from swarm_celery.resolve.inputs import build_request
from swarm_celery.resolve.synthetic import SYNTHETIC_REPO_NAME, synthetic_world, write_synthetic_repo

PROFILE = "default/linux/amd64/23.0/systemd"


def write_overlay(dest: Path, ebuilds: dict[str, dict[str, str]], name: str = "fixture") -> Path:
    """An overlay (master: the synthetic repository) holding ``ebuilds``: cpv → {"SLOT": "0/2", "RDEPEND": ..., "IUSE": ...}."""
    files = {
        "profiles/repo_name": f"{name}\n",
        "metadata/layout.conf": f"repo-name = {name}\nmasters = {SYNTHETIC_REPO_NAME}\ncache-formats = md5-dict\nuse-manifests = false\n",
    }
    for cpv, variables in ebuilds.items():
        values = {"SLOT": "0", "KEYWORDS": "amd64 arm64", "LICENSE": "MIT", "DESCRIPTION": f"fixture {cpv}"} | variables
        ebuild = "EAPI=8\n" + "".join(f'{key}="{value}"\n' for key, value in values.items())
        cp = cp_of(cpv)
        files[f"{cp}/{cpv.split('/', 1)[1]}.ebuild"] = ebuild
        cache = {k: v for k, v in values.items() if v} | {"EAPI": "8", "DEFINED_PHASES": "-", "_md5_": hashlib.md5(ebuild.encode()).hexdigest()}
        files[f"metadata/md5-cache/{cpv}"] = "".join(f"{key}={cache[key]}\n" for key in sorted(cache))
    files["profiles/categories"] = "".join(f"{c}\n" for c in sorted({cpv.split('/', 1)[0] for cpv in ebuilds}))
    for rel, content in files.items():
        (dest / rel).parent.mkdir(parents=True, exist_ok=True)
        (dest / rel).write_text(content)
    return dest


def synthetic_request(tmp_path: Path, overlay: dict[str, dict[str, str]] | None = None, extra_world: tuple[str, ...] = (),
                      package_use: str = "", tag: str = "a") -> ResolveRequest:
    """A request against the synthetic repository (plus an overlay when given), with package.use when given."""
    repos = [write_synthetic_repo(tmp_path / "synthetic")]
    if overlay is not None:
        repos.append(write_overlay(tmp_path / f"overlay-{tag}", overlay))
    config = tmp_path / f"config-{tag}"
    config.mkdir(exist_ok=True)
    if package_use:
        (config / "package.use").write_text(package_use)
    return build_request(repos, PROFILE, "amd64", (*synthetic_world(), *extra_world), config)
