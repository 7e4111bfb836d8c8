"""Generations on disk: immutable package sets beside the staging tree, published by one symlink switch.

Layout, below ``SWARM_HOME/binhost/generations/<profile>/<arch>/`` (served by the API as
``/binhost/generations/<profile>/<arch>/current/``)::

    <N>/            one generation: cat/<PF>-<BUILD_ID>.gpkg.tar (hard links to the staging tree's
                    cat/pn/<PF>-<BUILD_ID>.gpkg.tar: no GPKG data is copied), Packages (the staging
                    index's blocks of its packages, PATH as served), generation.json, tree.zip
    current -> <N>  what clients read; replaced by renaming a temporary symlink over it
    marks.json      tags, kept generations, the order they were published in
    .lock           serialises writers (flock)

A generation is made in ``.<N>.tmp-<pid>/`` and renamed to ``<N>`` once whole; publishing gives
its index a TIMESTAMP above the served one (portage clients re-read an index only when it moved)
and then switches ``current``. A crash at any step leaves the previous generation served, whole:
leftovers (``.*.tmp-*``, ``.trash-*``) are never served and :meth:`GenerationFiles.sweep` removes them.
``fault`` is called with the name of each step done (tests kill the process there).
"""

from __future__ import annotations

import fcntl
import json
import os
import shutil
import tarfile
import time
import zipfile
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import replace
from pathlib import Path

from swarm_celery.binhost.disk import disk_map, prune_staging, staging_entries
from swarm_celery.binhost.index import PORTAGE_TIMESTAMP_TOLERANCE, parse_index, select_index, write_atomic
from swarm_celery.domain.disk_budget import DiskMap
from swarm_celery.domain.generations import ARCH_NAME, Generation, GenerationRef, GenPackage, Marks
from swarm_celery.domain.profiles import NAME as PROFILE_NAME
from swarm_celery.errors import NotFoundError, UserError

CURRENT = "current"
TREE_ZIP = "tree.zip"  # the generation's tree, as portage's zipfile sync module fetches it
META = "generation.json"
MARKS = "marks.json"


def _named(profile: str, arch: str) -> str:
    """``profile/arch`` when both are names (never a path that leaves the generations' root); UserError otherwise."""
    if not PROFILE_NAME.match(profile) or not ARCH_NAME.fullmatch(arch):
        raise UserError(f"no generations can be named by profile {profile[:64]!r} and arch {arch[:32]!r}: give a build "
                        "profile's name (`build-swarm profile list`) and an arch like amd64")
    return f"{profile}/{arch}"


def _no_fault(step: str) -> None:
    del step


class GenerationFiles:
    def __init__(self, binhost: Path, fault: Callable[[str], None] = _no_fault, uploads: Path | None = None) -> None:
        self.binhost = binhost  # SWARM_HOME/binhost: the staging trees are <binhost>/<arch>
        self.root = binhost / "generations"
        self.fault = fault
        self.uploads = uploads  # drones' uploads, <uploads>/<attempt>/<name>: what never got published is collected

    def area(self, profile: str, arch: str) -> Path:
        return self.root / _named(profile, arch)

    # ------------------------------------------------------------------------------------- reading

    def all(self, profile: str = "", arch: str = "") -> list[Generation]:
        found = []
        for area in self._areas(profile, arch):
            for number in self._numbers(area):
                found.append(self._read(area / str(number)))
        return sorted(found, key=lambda g: g.ref)

    def get(self, ref: GenerationRef) -> Generation:
        path = self.area(ref.profile, ref.arch) / str(ref.number)
        if not (path / META).is_file():
            raise NotFoundError(f"no generation {ref}; `build-swarm binhost generations` lists them")
        return self._read(path)

    def published(self, profile: str, arch: str) -> int | None:
        try:
            target = os.readlink(self.area(profile, arch) / CURRENT)
        except OSError:
            return None
        return int(target) if target.isdigit() else None

    def marks(self, profile: str, arch: str) -> Marks:
        try:
            return Marks.from_json(json.loads((self.area(profile, arch) / MARKS).read_text()))
        except (OSError, ValueError):
            return Marks()

    def packages(self, ref: GenerationRef) -> list[GenPackage]:
        self.get(ref)
        entries = parse_index((self.area(ref.profile, ref.arch) / str(ref.number) / "Packages").read_text())[1]
        return [GenPackage(e.cpv, e.slot, e.use, f"{e.depend} {e.rdepend}") for e in entries]

    def files(self, ref: GenerationRef) -> set[str]:
        entries = parse_index((self.area(ref.profile, ref.arch) / str(ref.number) / "Packages").read_text())[1]
        return {e.path for e in entries if e.path}

    def _areas(self, profile: str, arch: str) -> Iterator[Path]:
        _named(profile or "any", arch or "any")
        profiles = [self.root / profile] if profile else sorted(p for p in _dirs(self.root))
        for base in profiles:
            yield from ([base / arch] if arch else sorted(_dirs(base)))

    @staticmethod
    def _numbers(area: Path) -> list[int]:
        return sorted(int(p.name) for p in _dirs(area) if p.name.isdigit() and (p / META).is_file())

    @staticmethod
    def _read(path: Path) -> Generation:
        return Generation.from_json(json.loads((path / META).read_text()))

    # ------------------------------------------------------------------------------------- writing

    def create(self, profile: str, arch: str, paths: Sequence[str], made: Generation, tree_archive: Path | None = None) -> Generation:
        """A new generation of ``paths`` (relative to the arch's staging tree, each in its ``Packages``): linked, indexed,
        described, then renamed into place. ``made`` gives everything but its number and package count;
        ``tree_archive`` (the snapshot's tarball) is served beside it as ``tree.zip`` for portage's zipfile sync."""
        staging = self.binhost / arch
        text = (staging / "Packages").read_text(encoding="utf-8") if (staging / "Packages").is_file() else ""
        wanted = set(paths)
        stamp = int(time.time())
        index, found = select_index(text, wanted, {"TIMESTAMP": str(stamp), "VERSION": "0"}, served_path)
        missing = wanted - found
        if missing:
            raise NotFoundError(f"the staging index of {arch} lacks {len(missing)} of the generation's packages "
                                f"(e.g. {sorted(missing)[0]}): pruned meanwhile (by hand, or by `binhost purge --budget` as the session "
                                "ended)? Sync the profile again (`build-swarm profile sync NAME`): what is missing is built again")
        area = self.area(profile, arch)
        with self._locked(area):
            number = max(self._numbers(area), default=0) + 1
            generation = replace(made, ref=GenerationRef(profile, arch, number), packages=len(found))
            tmp = area / f".{number}.tmp-{os.getpid()}"
            tmp.mkdir(parents=True)
            self.fault("create.dir")
            _link_all(str(staging), str(tmp), sorted(found))
            self.fault("create.links")
            if tree_archive is not None and made.snapshot:
                os.link(self._tree_zip(made.snapshot, tree_archive), tmp / TREE_ZIP)
            write_atomic(tmp / "Packages", index, stamp + PORTAGE_TIMESTAMP_TOLERANCE)
            self.fault("create.index")
            write_atomic(tmp / META, json.dumps(generation.to_json(), indent=1, sort_keys=True) + "\n", stamp)
            self.fault("create.meta")
            os.rename(tmp, area / str(number))
            _sync_dir(area)
            self.fault("create.rename")
        return generation

    def publish(self, ref: GenerationRef) -> None:
        """Serve ``ref``: its index gets a TIMESTAMP above the served one, then ``current`` is switched in one rename."""
        area = self.area(ref.profile, ref.arch)
        self.get(ref)
        with self._locked(area):
            served = self.published(ref.profile, ref.arch)
            floor = _timestamp(area / str(served) / "Packages") + 1 if served is not None else 0
            index = area / str(ref.number) / "Packages"
            stamp = max(int(time.time()), floor, _timestamp(index))
            write_atomic(index, _restamped(index.read_text(), stamp), stamp + PORTAGE_TIMESTAMP_TOLERANCE)
            self.fault("publish.index")
            link = area / f".{CURRENT}.tmp-{os.getpid()}"
            link.unlink(missing_ok=True)
            link.symlink_to(str(ref.number))
            self.fault("publish.symlink")
            os.replace(link, area / CURRENT)
            _sync_dir(area)
            self.fault("publish.switch")
            self._save_marks(area, self.marks(ref.profile, ref.arch).published(ref.number))
            self.fault("publish.marks")

    def update_marks(self, profile: str, arch: str, change: Callable[[Marks], Marks]) -> Marks:
        area = self.area(profile, arch)
        with self._locked(area):
            marks = change(self.marks(profile, arch))
            self._save_marks(area, marks)
            return marks

    def remove(self, ref: GenerationRef) -> None:
        """Remove a generation (never the published one): renamed out of sight first, then deleted."""
        area = self.area(ref.profile, ref.arch)
        with self._locked(area):
            if self.published(ref.profile, ref.arch) == ref.number:
                raise ValueError(f"{ref} is published: publish another one first")
            trash = area / f".trash-{ref.number}-{os.getpid()}"
            os.rename(area / str(ref.number), trash)
            self.fault("remove.rename")
            shutil.rmtree(trash)

    def sweep(self, dry_run: bool = False) -> list[Path]:
        """Leftovers of interrupted steps (a generation half made, one half removed, a temporary symlink), and tree zips
        no generation links any more."""
        found = [p for area in self._areas("", "") if area.is_dir() for p in area.iterdir()
                 if p.name.startswith((".trash-", f".{CURRENT}.tmp-")) or (p.name.startswith(".") and ".tmp-" in p.name)]
        found += list((self.root / ".trees").glob(".*.zip.*"))  # a tree zip half written
        found += [p for p in (self.root / ".trees").glob("*.zip") if p.stat().st_nlink == 1]  # no generation serves it
        if not dry_run:
            for path in found:
                if path.is_symlink() or path.is_file():
                    path.unlink(missing_ok=True)
                else:
                    shutil.rmtree(path, ignore_errors=True)
        return sorted(found)

    def tree_repo(self, ref: GenerationRef) -> str:
        """The repository name of the generation's tree (its ``profiles/repo_name``; "" when it serves no tree)."""
        path = self.area(ref.profile, ref.arch) / str(ref.number) / TREE_ZIP
        try:
            with zipfile.ZipFile(path) as archive:
                name = next((n for n in archive.namelist() if n.endswith("profiles/repo_name") and n.count("/") <= 2), "")
                return archive.read(name).decode("utf-8", errors="replace").strip() if name else "gentoo"
        except (OSError, zipfile.BadZipFile):
            return ""

    def _tree_zip(self, snapshot: str, archive: Path) -> Path:
        """The snapshot's tarball as a zip, made once per snapshot (generations of one snapshot share it by hard links)."""
        zipped = self.root / ".trees" / f"{snapshot}.zip"
        if not zipped.is_file():
            zipped.parent.mkdir(parents=True, exist_ok=True)
            part = zipped.with_name(f".{zipped.name}.{os.getpid()}")
            tar_to_zip(archive, part)
            os.replace(part, zipped)
        return zipped

    def orphans(self, arch: str) -> list[Path]:
        """GPKGs of the arch's staging tree that its index does not name (a generation's own links are not touched:
        removing a staging name frees the data only once no generation links it either)."""
        tree = self.binhost / arch
        index = tree / "Packages"
        named = {e.path for e in parse_index(index.read_text())[1]} if index.is_file() else set()
        return sorted(p for p in tree.glob("*/*/*.gpkg.tar") if p.relative_to(tree).as_posix() not in named)

    def disk(self) -> DiskMap:
        """Which inode below the binhost each generation and staging file holds, and its size on disk."""
        return disk_map(self.binhost)

    def staged(self, arch: str) -> list[tuple[str, str, str]]:
        """(path, CPV, SLOT) of each package the arch's staging index names."""
        return staging_entries(self.binhost, arch)

    def prune_staging(self, arch: str, paths: Sequence[str]) -> int:
        """Drop ``paths`` from the arch's staging index, then remove their files."""
        return prune_staging(self.binhost, arch, paths)

    def uploads_older_than(self, seconds: float) -> list[tuple[str, Path]]:
        """(attempt id, its upload directory) of the uploads nothing touched for ``seconds``."""
        if self.uploads is None or not self.uploads.is_dir():
            return []
        limit = time.time() - seconds
        return sorted((p.name, p) for p in self.uploads.iterdir() if p.is_dir() and p.stat().st_mtime < limit)

    def remove_files(self, paths: Sequence[Path]) -> int:
        gone = 0
        for path in paths:
            try:
                if path.is_dir() and not path.is_symlink():
                    shutil.rmtree(path)
                else:
                    path.unlink()
                gone += 1
            except FileNotFoundError:
                pass
        return gone

    def _save_marks(self, area: Path, marks: Marks) -> None:
        write_atomic(area / MARKS, json.dumps(marks.to_json(), indent=1, sort_keys=True) + "\n", int(time.time()))

    @contextmanager
    def _locked(self, area: Path) -> Iterator[None]:
        area.mkdir(parents=True, exist_ok=True)
        fd = os.open(area / ".lock", os.O_RDWR | os.O_CREAT, 0o644)
        try:
            fcntl.flock(fd, fcntl.LOCK_EX)
            yield
        finally:
            os.close(fd)


def _dirs(path: Path) -> list[Path]:
    try:
        return [p for p in path.iterdir() if p.is_dir() and not p.is_symlink() and not p.name.startswith(".")]
    except OSError:
        return []


def served_path(staging_path: str) -> str:
    """Where a generation holds a staging file: ``cat/pn/<PF>-<N>.gpkg.tar`` → ``cat/<PF>-<N>.gpkg.tar``. One directory per
    category, not per package (a client fetches PATH from the index and names its own copy; 20,000 directories per
    generation would cost more disk and time than the links)."""
    category, _, rest = staging_path.partition("/")
    return f"{category}/{rest.rpartition('/')[2]}"


def _link_all(staging: str, into: str, paths: Sequence[str]) -> None:
    """Hard-link each staging file into the new generation (plain strings: 20,000 of them must take well under a second)."""
    made: set[str] = set()
    for path in paths:
        served = served_path(path)
        folder = os.path.dirname(served)
        if folder not in made:
            os.makedirs(f"{into}/{folder}", exist_ok=True)
            made.add(folder)
        try:
            os.link(f"{staging}/{path}", f"{into}/{served}")
        except FileNotFoundError:
            raise NotFoundError(f"{staging}/{path} is in the staging index but not on disk: run `build-swarm binhost gc` "
                                "(or re-publish the package) before making a generation") from None


def _timestamp(index: Path) -> int:
    """The TIMESTAMP of an index's header (0 when there is none), reading the header only."""
    try:
        with index.open(encoding="utf-8") as handle:
            for line in iter(handle.readline, ""):
                if line in ("\n", ""):
                    break
                if line.startswith("TIMESTAMP: ") and line[11:].strip().isdigit():
                    return int(line[11:])
    except OSError:
        pass
    return 0


def _restamped(text: str, stamp: int) -> str:
    """The index text with its header's TIMESTAMP set to ``stamp`` (the package blocks as they are)."""
    head, sep, body = text.partition("\n\n")
    lines = [f"TIMESTAMP: {stamp}" if line.startswith("TIMESTAMP:") else line for line in head.splitlines()]
    return "\n".join(lines) + "\n" + sep[1:] + body


def _sync_dir(path: Path) -> None:
    fd = os.open(path, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


def tar_to_zip(archive: Path, dest: Path) -> None:
    """Copy a (compressed) tarball's regular files into a new zip at ``dest``, each directory entry before what it holds
    (portage's zipfile sync creates only the directories the zip lists, and finds the tree's top by its ``profiles``
    entry); links, devices and any member whose path leaves the archive are left out."""
    with tarfile.open(archive, "r:*") as tar, zipfile.ZipFile(dest, "w", zipfile.ZIP_DEFLATED, compresslevel=6) as out:
        listed: set[str] = set()
        for member in tar:
            name = member.name.lstrip("./").rstrip("/")
            if not name or ".." in name.split("/"):
                continue
            parts = name.split("/")
            for depth in range(1, len(parts) + (1 if member.isdir() else 0)):
                folder = "/".join(parts[:depth])
                if folder not in listed:
                    listed.add(folder)
                    out.writestr(zipfile.ZipInfo(folder + "/", _date(member.mtime)), b"")
            if member.isreg() and (source := tar.extractfile(member)) is not None:
                info = zipfile.ZipInfo(name, _date(member.mtime))
                info.compress_type, info.external_attr = zipfile.ZIP_DEFLATED, (member.mode & 0o777) << 16
                with out.open(info, "w") as sink:
                    shutil.copyfileobj(source, sink)


def _date(mtime: float) -> tuple[int, int, int, int, int, int]:
    stamp = time.gmtime(max(mtime, 315532800))  # zip dates start in 1980
    return stamp.tm_year, stamp.tm_mon, stamp.tm_mday, stamp.tm_hour, stamp.tm_min, stamp.tm_sec
