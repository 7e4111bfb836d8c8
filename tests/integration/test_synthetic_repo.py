"""The shipped synthetic repository resolves with real portage, from its own md5-cache, on amd64 and arm64.

Portage keeps global state (EPREFIX, settings, caches), so each resolve runs in a
fresh subprocess: a driver script written into tmp_path lays out a private root
(like portage's ResolverPlayground), resolves ``--emptytree @system``, records it
as installed in the vdb, then resolves ``--emptytree @world`` and prints JSON.
The driver counts every metadata-phase spawn (``ebuild.sh depend``) and lists the
files in PORTAGE_DEPCACHEDIR: both must stay at zero when the cache is valid.
"""

from __future__ import annotations

import hashlib
import json
import os
import shutil
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

from swarm_celery.resolve.synthetic import SYNTHETIC_REPO_NAME, synthetic_world, write_synthetic_repo
from swarm_celery.resolve.synthetic_data import PACKAGES, atom_cp

DRIVER = r'''
import json, os, sys, time
repo, profile, arch, root, world_file = sys.argv[1:6]
os.environ["PORTAGE_OVERRIDE_EPREFIX"] = root  # before portage is imported
etc = os.path.join(root, "etc/portage")
for d in ("etc/portage", "var/db/pkg", "var/lib/portage", "share/portage", "usr/share/portage", "depcache"):
    os.makedirs(os.path.join(root, d), exist_ok=True)
for d in ("share/portage/config", "usr/share/portage/config"):
    os.symlink(os.path.join(sys.prefix, "share/portage/config"), os.path.join(root, d))
depcache = os.path.join(root, "depcache")
with open(os.path.join(etc, "make.conf"), "w") as f:
    f.write(f'ACCEPT_KEYWORDS="{arch}"\nFEATURES="-sandbox -usersandbox -ipc-sandbox -network-sandbox -pid-sandbox '
            f'-mount-sandbox -news -userpriv -usersync -userfetch"\nPORTAGE_DEPCACHEDIR="{depcache}"\n'
            f'PKGDIR="{root}/pkgdir"\nDISTDIR="{root}/distfiles"\nPORTAGE_TMPDIR="{root}/tmp"\n')
repos = f"[DEFAULT]\nmain-repo = swarm-synthetic\n[swarm-synthetic]\nlocation = {repo}\n"
with open(os.path.join(etc, "repos.conf"), "w") as f:
    f.write(repos)
os.symlink(os.path.join(repo, "profiles", profile), os.path.join(etc, "make.profile"))
start = time.perf_counter()
import portage
from portage.dbapi.porttree import portdbapi
from _emerge.RootConfig import RootConfig
from _emerge.create_depgraph_params import create_depgraph_params
from _emerge.depgraph import backtrack_depgraph
from _emerge.actions import expand_set_arguments
from _emerge.Package import Package
from portage._sets import load_default_config
spawns = []
_real_phase = portdbapi._run_metadata_phase
async def _counting_phase(self, mycpv, *args, **kwargs):
    spawns.append(str(mycpv))
    return await _real_phase(self, mycpv, *args, **kwargs)
portdbapi._run_metadata_phase = _counting_phase
portage.util.noiselimit = -2

def resolve(atoms, extra):
    trees = portage.create_trees(env={"PATH": os.environ["PATH"], "PORTAGE_REPOSITORIES": repos}, eprefix=root)
    for rt in trees.values():
        s = rt["vartree"].settings
        s._init_dirs()
        rt["root_config"] = RootConfig(s, rt, load_default_config(s, rt))
    settings = trees[trees._target_eroot]["vartree"].settings
    opts = {"--pretend": True, "--emptytree": True, **extra}
    atoms, _ = expand_set_arguments(atoms, None, trees[settings["EROOT"]]["root_config"])
    ok, dg, _ = backtrack_depgraph(settings, trees, opts, create_depgraph_params(opts, None), None, atoms, None)
    return ok, dg, settings

def merges(pkgs):
    return [p for p in pkgs if isinstance(p, Package) and p.operation == "merge"]

KEYS = ("SLOT", "EAPI", "IUSE", "KEYWORDS", "LICENSE", "DEPEND", "RDEPEND", "BDEPEND", "PDEPEND", "IDEPEND",
        "RESTRICT", "PROPERTIES", "DEFINED_PHASES", "INHERITED")
ok_sys, dg, settings = resolve(["@system"], {"--backtrack": 0})
system = merges(dg._dynamic_config.digraph)
system_time = time.perf_counter() - start
for i, p in enumerate(system):
    d = os.path.join(root, "var/db/pkg", p.cpv)
    os.makedirs(d)
    md = {k: p._metadata.get(k, "") for k in KEYS}
    md.update(USE=" ".join(sorted(p.use.enabled)), repository=p.repo, COUNTER=str(i + 1), BUILD_TIME="0")
    for k, v in md.items():
        with open(os.path.join(d, k), "w") as f:
            f.write(v + "\n")
    open(os.path.join(d, p.cpv.split("/")[1] + ".ebuild"), "w").close()
with open(os.path.join(root, "var/lib/portage/world"), "w") as f:
    with open(world_file) as src:
        f.write(src.read())
t1 = time.perf_counter()
ok, dg, settings = resolve(["@world"], {})
order = merges(dg.altlist()) if ok else []
world_time = time.perf_counter() - t1
if not ok:
    portage.util.noiselimit = 0
    dg.display_problems()
json.dump({
    "system_ok": bool(ok_sys), "ok": bool(ok), "system": sorted(p.cpv for p in system),
    "order": [p.cpv for p in order], "use": {p.cpv: sorted(p.use.enabled) for p in order},
    "arch": settings["ARCH"], "chost": settings["CHOST"], "spawns": spawns,
    "depcache_files": sorted(os.path.join(dp, n) for dp, _, ns in os.walk(depcache) for n in ns),
    "system_seconds": system_time, "world_seconds": world_time,
}, sys.stdout)
'''

# @system (15 atoms on the systemd profiles, 14 without) resolves to these many packages; @world to these.
EXPECTED = {"systemd": (43, 48), "plain": (42, 47)}
# Never merged: nano loses virtual/editor's || to vim (already in the @world graph), perl-core/File-Temp loses to perl.
NEVER_IN_WORLD = {"app-editors/nano-8.3", "perl-core/File-Temp-0.231.100"}


def resolve_in_subprocess(repo: Path, profile: str, arch: str, tmp_path: Path) -> dict[str, Any]:
    driver = tmp_path / "driver.py"
    driver.write_text(DRIVER)
    root = tmp_path / f"root-{arch}-{profile.replace('/', '_')}"
    root.mkdir()
    world = tmp_path / "world"
    world.write_text("".join(f"{a}\n" for a in synthetic_world()))
    run = subprocess.run([sys.executable, str(driver), str(repo), profile, arch, str(root), str(world)],
                         capture_output=True, text=True, timeout=600, check=False)
    assert run.returncode == 0, run.stderr[-4000:]
    result: dict[str, Any] = json.loads(run.stdout)
    return result


@pytest.fixture(scope="module")
def repo(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return write_synthetic_repo(tmp_path_factory.mktemp("synthetic") / "repo")


@pytest.mark.parametrize("arch", ["amd64", "arm64"])
def test_world_resolves_from_the_md5_cache(repo: Path, tmp_path: Path, arch: str) -> None:
    result = resolve_in_subprocess(repo, f"default/linux/{arch}/23.0/systemd", arch, tmp_path)
    assert result["ok"] and result["system_ok"], result
    assert result["arch"] == arch
    assert result["chost"] == {"amd64": "x86_64-pc-linux-gnu", "arm64": "aarch64-unknown-linux-gnu"}[arch]
    order = result["order"]
    assert len(result["system"]) == EXPECTED["systemd"][0], result["system"]
    assert len(order) == len(set(order)) == EXPECTED["systemd"][1], order
    assert set(order) == {p.cpv for p in PACKAGES} - NEVER_IN_WORLD
    cps = {atom_cp("=" + cpv) for cpv in order}
    assert {atom_cp(a) for a in synthetic_world()} <= cps
    assert "sys-apps/systemd" in cps and "sys-libs/glibc" in cps
    assert result["spawns"] == [] and result["depcache_files"] == [], "portage regenerated metadata"
    assert arch in result["use"]["sys-libs/glibc-2.40-r5"]  # use.force of the arch flag
    assert "systemd" in result["use"]["app-misc/tmux-3.5a"]


def test_plain_profile_has_no_systemd(repo: Path, tmp_path: Path) -> None:
    result = resolve_in_subprocess(repo, "default/linux/arm64/23.0", "arm64", tmp_path)
    assert result["ok"], result
    assert (len(result["system"]), len(result["order"])) == EXPECTED["plain"]
    cps = {atom_cp("=" + cpv) for cpv in result["order"]}
    assert "sys-apps/systemd" not in cps and "app-misc/tmux" in cps
    assert result["spawns"] == [] and result["depcache_files"] == []


def test_a_stale_cache_entry_is_detected(repo: Path, tmp_path: Path) -> None:
    """Negative control: the spawn counter and the depcache listing do see a regeneration."""
    stale = tmp_path / "stale-repo"
    shutil.copytree(repo, stale)
    with (stale / "app-misc" / "tmux" / "tmux-3.5a.ebuild").open("a") as ebuild:
        ebuild.write("# edited after the cache was written\n")
    result = resolve_in_subprocess(stale, "default/linux/amd64/23.0/systemd", "amd64", tmp_path)
    assert result["ok"], result
    assert result["spawns"] == ["app-misc/tmux-3.5a"]
    assert [Path(f).name for f in result["depcache_files"]] == ["tmux-3.5a"]


def test_md5_cache_is_what_egencache_writes(repo: Path, tmp_path: Path) -> None:
    """portage's own egencache (running ebuild.sh on every ebuild) regenerates our md5-cache byte for byte."""
    copy = tmp_path / "repo"
    shutil.copytree(repo, copy)
    shutil.rmtree(copy / "metadata" / "md5-cache")
    root = tmp_path / "root"
    (root / "etc" / "portage").mkdir(parents=True)
    for rel in ("share/portage/config", "usr/share/portage/config"):
        (root / rel).parent.mkdir(parents=True, exist_ok=True)
        (root / rel).symlink_to(Path(sys.prefix) / "share" / "portage" / "config")
    (root / "etc" / "portage" / "make.profile").symlink_to(copy / "profiles" / "default/linux/amd64/23.0/systemd")
    (root / "etc" / "portage" / "make.conf").write_text(
        'FEATURES="-sandbox -usersandbox -ipc-sandbox -network-sandbox -pid-sandbox -mount-sandbox -news -userpriv"\n'
        f'PORTAGE_TMPDIR="{root}/tmp"\nPORTAGE_DEPCACHEDIR="{root}/dep"\n')
    (root / "tmp").mkdir()
    (root / "etc" / "portage" / "repos.conf").write_text(f"[DEFAULT]\nmain-repo = {SYNTHETIC_REPO_NAME}\n[{SYNTHETIC_REPO_NAME}]\nlocation = {copy}\n")
    egencache = Path(sys.executable).parent / "egencache"
    env = {"PATH": os.environ["PATH"], "PORTAGE_OVERRIDE_EPREFIX": str(root), "HOME": str(tmp_path)}
    run = subprocess.run([str(egencache), "--update", "--repo", SYNTHETIC_REPO_NAME, "--jobs", "4"],
                         env=env, capture_output=True, text=True, timeout=600, check=False)
    assert run.returncode == 0, run.stderr[-4000:]
    ours = repo / "metadata" / "md5-cache"
    theirs = copy / "metadata" / "md5-cache"
    listing = sorted(p.relative_to(ours).as_posix() for p in ours.rglob("*") if p.is_file())
    assert listing == sorted(p.relative_to(theirs).as_posix() for p in theirs.rglob("*") if p.is_file())
    for rel in listing:
        assert (theirs / rel).read_text() == (ours / rel).read_text(), rel


def _tree(dest: Path) -> dict[str, bytes]:
    return {p.relative_to(dest).as_posix(): p.read_bytes() for p in dest.rglob("*") if p.is_file()}


def test_every_package_has_an_ebuild_a_cache_entry_and_its_licenses(repo: Path) -> None:
    licenses = {p.name for p in (repo / "licenses").iterdir()}
    groups = (repo / "profiles" / "license_groups").read_text()
    categories = (repo / "profiles" / "categories").read_text().split()
    for pkg in PACKAGES:
        ebuild = (repo / pkg.cp / f"{pkg.pf}.ebuild").read_bytes()
        entry = dict(line.split("=", 1) for line in (repo / "metadata" / "md5-cache" / pkg.cpv).read_text().splitlines())
        assert entry["_md5_"] == hashlib.md5(ebuild).hexdigest()
        assert "_eclasses_" not in entry and entry["EAPI"] == "8" and entry["KEYWORDS"] == "amd64 arm64"
        for name in entry.get("LICENSE", "").replace("(", " ").replace(")", " ").replace("||", " ").split():
            assert name in licenses and f" {name}" in groups, (pkg.cpv, name)
        assert pkg.category in categories


def test_write_is_idempotent_and_prunes_stale_files(tmp_path: Path) -> None:
    dest = tmp_path / "repo"
    assert write_synthetic_repo(dest) == dest
    first = _tree(dest)
    assert {f"{p.cp}/{p.pf}.ebuild" for p in PACKAGES} <= set(first)
    (dest / "app-misc" / "tmux" / "tmux-0.1.ebuild").write_text("stale\n")
    (dest / "app-old" / "gone").mkdir(parents=True)
    (dest / "app-old" / "gone" / "gone-1.ebuild").write_text("stale\n")
    (dest / "metadata" / "md5-cache" / "app-misc" / "tmux-0.1").write_text("stale\n")
    assert write_synthetic_repo(dest) == dest
    assert _tree(dest) == first
    assert not (dest / "app-old").exists()
    assert (dest / "profiles" / "repo_name").read_text().strip() == SYNTHETIC_REPO_NAME


def test_a_foreign_directory_is_never_pruned(tmp_path: Path) -> None:
    dest = tmp_path / "not-ours"
    (dest / "keep").mkdir(parents=True)
    (dest / "keep" / "file").write_text("mine\n")
    write_synthetic_repo(dest)
    assert (dest / "keep" / "file").read_text() == "mine\n"
