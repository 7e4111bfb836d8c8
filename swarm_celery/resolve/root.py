"""A private portage configuration root (never ``/``, never the virtualenv's prefix).

Lays out ``<root>/etc/portage`` (make.conf, repos.conf, make.profile, package.*),
``<root>/var/lib/portage/world`` and ``<root>/var/db/pkg`` the way portage's own
``ResolverPlayground`` does, so that real portage resolves without root and without
a Gentoo install. Used by :mod:`swarm_celery.resolve.runner` before portage loads.

The baseline's installed-package database (~6,000 small files for a stage3) is written
once per baseline content under the cache and symlinked into each root: writing it
for every resolve cost 5-8 s, more than portage's own resolution.
"""

from __future__ import annotations

import hashlib
import json
import os
import shutil
from pathlib import Path

from swarm_celery.domain.config import ResolveRequest

# make.conf lines we add after the user's: a non-root resolver with no sandboxes.
_RESOLVER_MAKE_CONF = (
    'FEATURES="${FEATURES} -sandbox -usersandbox -ipc-sandbox -network-sandbox -pid-sandbox '
    '-mount-sandbox -news -userpriv -usersync -userfetch"\n'
)



def repo_name(path: Path) -> str:
    """The repository's name from ``profiles/repo_name`` (what repos.conf keys on)."""
    name_file = path / "profiles" / "repo_name"
    try:
        name = name_file.read_text().strip()
    except OSError:
        name = ""
    return name or path.name


def repos_conf(repos: tuple[str, ...]) -> str:
    main = repo_name(Path(repos[0]))
    lines = ["[DEFAULT]", f"main-repo = {main}", ""]
    for location in repos:
        lines += [f"[{repo_name(Path(location))}]", f"location = {location}", ""]
    return "\n".join(lines)


def build_root(root: Path, request: ResolveRequest, depcache: Path, share_config: Path) -> str:
    """Create the private root under ``root``; return the repos.conf text portage must be given."""
    etc = root / "etc" / "portage"
    etc.mkdir(parents=True, exist_ok=True)
    (root / "var" / "db" / "pkg").mkdir(parents=True, exist_ok=True)
    (root / "var" / "lib" / "portage").mkdir(parents=True, exist_ok=True)
    for rel in ("share/portage/config", "usr/share/portage/config"):
        link = root / rel
        link.parent.mkdir(parents=True, exist_ok=True)
        if not link.exists():
            os.symlink(share_config, link)
    files = dict(request.config_files)
    make_conf = files.pop("make.conf", "")
    make_conf += f'\n{_RESOLVER_MAKE_CONF}PORTAGE_DEPCACHEDIR="{depcache}"\n'
    make_conf += f'PKGDIR="{root}/pkgdir"\nDISTDIR="{root}/distfiles"\nPORTAGE_TMPDIR="{root}/tmp"\n'
    (etc / "make.conf").write_text(make_conf)
    for name, content in files.items():
        (etc / name).write_text(content)
    conf = repos_conf(request.repos)
    (etc / "repos.conf").write_text(conf)
    profile = Path(request.repos[0]) / "profiles" / request.gentoo_profile
    os.symlink(profile, etc / "make.profile")
    (root / "var" / "lib" / "portage" / "world").write_text("".join(f"{a}\n" for a in request.world))
    return conf


def write_vdb(vdb: Path, records: list[dict[str, str]]) -> None:
    """Record packages as installed in the installed-package database ``vdb`` (a ``/var/db/pkg``)."""
    for counter, record in enumerate(records, start=1):
        cpv = record["cpv"]
        pkg_dir = vdb / cpv
        pkg_dir.mkdir(parents=True, exist_ok=True)
        fields = {k: v for k, v in record.items() if k != "cpv"}
        fields.update(COUNTER=str(counter), BUILD_TIME="0")
        for key, value in fields.items():
            (pkg_dir / key).write_text(value + "\n")
        (pkg_dir / (cpv.split("/", 1)[1] + ".ebuild")).write_text(f'EAPI="{record.get("EAPI", "8")}"\n')


def cached_vdb(records: list[dict[str, str]], cache: Path) -> Path:
    """The vdb of ``records`` under ``cache``, named by its content, written once (to a temporary directory
    renamed into place, so concurrent resolvers never see half of one). portage only reads it."""
    digest = hashlib.sha256(json.dumps(records, sort_keys=True).encode()).hexdigest()[:16]
    final = cache / digest
    if final.is_dir():
        return final
    cache.mkdir(parents=True, exist_ok=True)
    part = cache / f".{digest}.{os.getpid()}.part"
    shutil.rmtree(part, ignore_errors=True)
    write_vdb(part, records)
    try:
        os.rename(part, final)
    except OSError:  # another resolver renamed the same content first
        shutil.rmtree(part, ignore_errors=True)
    return final


def link_vdb(root: Path, records: list[dict[str, str]], cache: Path) -> None:
    """Make ``<root>/var/db/pkg`` the cached vdb of ``records``."""
    pkg = root / "var" / "db" / "pkg"
    if pkg.is_symlink():
        pkg.unlink()
    else:
        shutil.rmtree(pkg, ignore_errors=True)
    os.symlink(cached_vdb(records, cache), pkg)
