"""A small synthetic Gentoo ebuild repository, written from Python (like portage's ResolverPlayground).

``build-swarm demo`` uses it on a machine with no Gentoo tree. The repository is
complete enough for real portage: profiles for amd64 and arm64 (``default/linux/
<arch>/23.0`` and ``.../23.0/systemd``), an @system set, license groups, and a
pre-generated ``metadata/md5-cache`` whose ``_md5_`` matches each ebuild, so
portage never runs ``ebuild.sh`` to regenerate metadata. No Manifests: layout.conf
says ``use-manifests = false``. The package table lives in
:mod:`swarm_celery.resolve.synthetic_data`.
"""

from __future__ import annotations

import hashlib
import os
import re
from pathlib import Path

from swarm_celery.resolve.synthetic_data import (
    ARCHES,
    EAPI,
    KEYWORDS,
    PACKAGES,
    SYSTEM_BASE,
    SYSTEM_LINUX,
    SYSTEM_SYSTEMD,
    WORLD,
    SyntheticPackage,
)

__all__ = ["SYNTHETIC_REPO_NAME", "synthetic_world", "write_synthetic_repo"]

SYNTHETIC_REPO_NAME = "swarm-synthetic"

_HEADER = "# Synthetic ebuild written by swarm_celery.resolve.synthetic (not a real package).\n# Distributed under the terms of the GNU General Public License v2\n"
_INSTALL = 'src_install() {\n\tdodir /usr/share/swarm-synthetic\n\techo "${CATEGORY}/${PF}" > "${ED}/usr/share/swarm-synthetic/${PN}" || die\n}\n'
_CHOST = {"amd64": "x86_64-pc-linux-gnu", "arm64": "aarch64-unknown-linux-gnu"}
_LICENSE_NAME = re.compile(r"^[A-Za-z0-9_][A-Za-z0-9+_.-]*$")


def synthetic_world() -> list[str]:
    """The default @world atoms for the synthetic repository."""
    return list(WORLD)


def _ebuild_vars(pkg: SyntheticPackage) -> list[tuple[str, str]]:
    pairs = [("DESCRIPTION", pkg.description), ("HOMEPAGE", pkg.homepage), ("LICENSE", pkg.license), ("SLOT", pkg.slot),
             ("KEYWORDS", KEYWORDS), ("IUSE", pkg.iuse)]
    pairs += list(pkg.dep_vars().items())
    return [(key, value) for key, value in pairs if value]


def _ebuild_text(pkg: SyntheticPackage) -> str:
    """A real, minimal EAPI 8 ebuild: no eclasses, no sources, one marker file installed (virtuals install nothing)."""
    lines = [_HEADER, f"\nEAPI={EAPI}\n\n"]
    lines += [f'{key}="{value}"\n' for key, value in _ebuild_vars(pkg)]
    if not pkg.is_virtual:
        lines += ['S="${WORKDIR}"\n', "\n", _INSTALL]
    return "".join(lines)


def _cache_text(pkg: SyntheticPackage, ebuild: str) -> str:
    """The md5-dict entry portage's egencache would write: sorted keys, empty values omitted, no ``_eclasses_``."""
    values = dict(_ebuild_vars(pkg))
    values["EAPI"] = EAPI
    values["DEFINED_PHASES"] = "-" if pkg.is_virtual else "install"
    values["_md5_"] = hashlib.md5(ebuild.encode()).hexdigest()
    return "".join(f"{key}={values[key]}\n" for key in sorted(values))


def _license_names() -> list[str]:
    """Every license named in the table (``|| ( ... )`` groups and conditionals skipped)."""
    names = {tok for pkg in PACKAGES for tok in pkg.license.split() if _LICENSE_NAME.match(tok) and not tok.endswith("?")}
    return sorted(names)


def _package_files() -> dict[str, str]:
    files: dict[str, str] = {}
    for pkg in PACKAGES:
        ebuild = _ebuild_text(pkg)
        files[f"{pkg.cp}/{pkg.pf}.ebuild"] = ebuild
        files[f"metadata/md5-cache/{pkg.cpv}"] = _cache_text(pkg, ebuild)
    for name in _license_names():
        files[f"licenses/{name}"] = f"{name}: placeholder text for the synthetic repository; see the upstream license.\n"
    return files


def _layout_conf() -> str:
    return (
        f"repo-name = {SYNTHETIC_REPO_NAME}\n"
        "masters =\n"
        "cache-formats = md5-dict\n"
        "thin-manifests = true\n"
        "sign-manifests = false\n"
        "sign-commits = false\n"
        "use-manifests = false\n"
        "profile-formats = portage-2 profile-default-eapi\n"
        "profile_eapi_when_unspecified = 5\n"
    )


def _lines(items: list[str] | tuple[str, ...]) -> str:
    return "".join(f"{item}\n" for item in items)


def _base_make_defaults() -> str:
    return _lines([
        'ACCEPT_LICENSE="-* @FREE"',
        'ELIBC="glibc"',
        'KERNEL="linux"',
        'IUSE_IMPLICIT="prefix prefix-guest prefix-stack"',
        'USE_EXPAND="ELIBC KERNEL PYTHON_SINGLE_TARGET PYTHON_TARGETS"',
        'USE_EXPAND_HIDDEN="ELIBC KERNEL"',
        'USE_EXPAND_IMPLICIT="ARCH ELIBC KERNEL"',
        'USE_EXPAND_UNPREFIXED="ARCH"',
        f'USE_EXPAND_VALUES_ARCH="{" ".join(ARCHES)}"',
        'USE_EXPAND_VALUES_ELIBC="glibc musl"',
        'USE_EXPAND_VALUES_KERNEL="linux"',
        'PYTHON_TARGETS="python3_12"',
        'PYTHON_SINGLE_TARGET="python3_12"',
        'CONFIG_PROTECT="/etc"',
        'CONFIG_PROTECT_MASK="/etc/env.d"',
        'PROFILE_ONLY_VARIABLES="ARCH ELIBC IUSE_IMPLICIT KERNEL USE_EXPAND_IMPLICIT USE_EXPAND_UNPREFIXED '
        'USE_EXPAND_VALUES_ARCH USE_EXPAND_VALUES_ELIBC USE_EXPAND_VALUES_KERNEL"',
    ])


def _arch_make_defaults(arch: str) -> str:
    return _lines([
        f'ARCH="{arch}"',
        'ACCEPT_KEYWORDS="${ARCH}"',
        f'CHOST="{_CHOST[arch]}"',
        'CFLAGS="-O2 -pipe"',
        'CXXFLAGS="${CFLAGS}"',
        'FCFLAGS="${CFLAGS}"',
        'FFLAGS="${CFLAGS}"',
        'LDFLAGS="-Wl,-O1 -Wl,--as-needed"',
    ])


def _profile_files() -> dict[str, str]:
    files = {
        "profiles/base/make.defaults": _base_make_defaults(),
        "profiles/base/packages": _lines([f"*{cp}" for cp in SYSTEM_BASE]),
        "profiles/base/use.mask": _lines(["prefix", "prefix-guest", "prefix-stack", *ARCHES]),
        "profiles/default/linux/parent": "../../base\n",
        "profiles/default/linux/make.defaults": 'USE="crypt ipv6 ncurses nls readline ssl unicode zlib"\n',
        "profiles/default/linux/packages": _lines([f"*{cp}" for cp in SYSTEM_LINUX]),
        "profiles/targets/systemd/make.defaults": 'USE="${USE} systemd udev"\n',
        "profiles/targets/systemd/packages": _lines([f"*{cp}" for cp in SYSTEM_SYSTEMD]),
    }
    desc = []
    for arch in ARCHES:
        files[f"profiles/arch/{arch}/make.defaults"] = _arch_make_defaults(arch)
        files[f"profiles/arch/{arch}/use.force"] = f"{arch}\n"
        files[f"profiles/arch/{arch}/use.mask"] = f"-{arch}\n"
        files[f"profiles/default/linux/{arch}/23.0/parent"] = f"../..\n../../../../arch/{arch}\n"
        files[f"profiles/default/linux/{arch}/23.0/systemd/parent"] = "..\n../../../../../targets/systemd\n"
        desc += [f"{arch}\tdefault/linux/{arch}/23.0\tstable", f"{arch}\tdefault/linux/{arch}/23.0/systemd\tstable"]
    files["profiles/profiles.desc"] = _lines(desc)
    return files


def _repo_meta_files() -> dict[str, str]:
    licenses = _license_names()
    documents = [name for name in licenses if name.startswith("FDL")]
    software = [name for name in licenses if name not in documents]
    return {
        "metadata/layout.conf": _layout_conf(),
        "profiles/repo_name": f"{SYNTHETIC_REPO_NAME}\n",
        "profiles/eapi": "5\n",
        "profiles/arch.list": _lines(ARCHES),
        "profiles/arches.desc": _lines([f"{arch} stable" for arch in ARCHES]),
        "profiles/categories": _lines(sorted({pkg.category for pkg in PACKAGES})),
        "profiles/license_groups": _lines([
            f"FREE-SOFTWARE {' '.join(software)}",
            f"FREE-DOCUMENTS {' '.join(documents)}",
            "FREE @FREE-SOFTWARE @FREE-DOCUMENTS",
        ]),
    }


def _repo_files() -> dict[str, str]:
    """Every file of the repository: relative path -> content."""
    return _repo_meta_files() | _profile_files() | _package_files()


def _is_ours(dest: Path) -> bool:
    try:
        return (dest / "profiles" / "repo_name").read_text().strip() == SYNTHETIC_REPO_NAME
    except OSError:
        return False


def _prune(dest: Path, keep: set[str]) -> None:
    """Remove what a previous version of the table wrote (only inside a repository that is ours).

    Dot-files (another writer's temporary files) and directories that still hold kept files are left alone.
    """
    needed = {parent.as_posix() for rel in keep for parent in Path(rel).parents}
    for top in sorted(p for p in dest.iterdir() if p.is_dir() and not p.name.startswith(".")):
        for path in [*sorted(top.rglob("*"), reverse=True), top]:
            rel = path.relative_to(dest).as_posix()
            if path.name.startswith(".") or rel in keep or rel in needed:
                continue
            if path.is_dir():
                if not any(path.iterdir()):
                    path.rmdir()
            else:
                path.unlink(missing_ok=True)


def write_synthetic_repo(dest: Path) -> Path:
    """Write the repository under ``dest`` (created if missing); idempotent. Returns ``dest``."""
    files = _repo_files()
    dest.mkdir(parents=True, exist_ok=True)
    if _is_ours(dest):
        _prune(dest, set(files))
    for rel, content in files.items():
        path = dest / rel
        try:
            if path.read_text() == content:
                continue
        except OSError:
            path.parent.mkdir(parents=True, exist_ok=True)
        tmp = path.with_name(f".{path.name}.{os.getpid()}.tmp")
        tmp.write_text(content)
        os.replace(tmp, path)
    return dest
