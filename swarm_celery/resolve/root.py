"""A private portage configuration root (never ``/``, never the virtualenv's prefix).

Lays out ``<root>/etc/portage`` (make.conf, repos.conf, make.profile, package.*),
``<root>/var/lib/portage/world`` and ``<root>/var/db/pkg`` the way portage's own
``ResolverPlayground`` does, so that real portage resolves without root and without
a Gentoo install. Used by :mod:`swarm_celery.resolve.runner` before portage loads.
"""

from __future__ import annotations

import os
from pathlib import Path

from swarm_celery.domain.config import ResolveRequest

# make.conf lines we add after the user's: a non-root resolver with no sandboxes.
_RESOLVER_MAKE_CONF = (
    'FEATURES="${FEATURES} -sandbox -usersandbox -ipc-sandbox -network-sandbox -pid-sandbox '
    '-mount-sandbox -news -userpriv -usersync -userfetch"\n'
)

CONFIG_FILE_NAMES = ("make.conf", "package.use", "package.accept_keywords", "package.mask", "package.unmask", "package.env", "package.license")


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
    profile = Path(request.repos[0]) / "profiles" / request.profile
    os.symlink(profile, etc / "make.profile")
    (root / "var" / "lib" / "portage" / "world").write_text("".join(f"{a}\n" for a in request.world))
    return conf
