"""Publishing: staging → checks → binhost tree → ``Packages`` index, atomically.

The coordinator calls :meth:`BinhostPublisher.publish_many` for each batch of successful builds.
Checks before anything is visible: the staged file exists, its sha256 is the one
the drone reported, it is a well-formed GPKG (Manifest checksums included), and
its own metadata names the CPV, SLOT, sub-slot, repository, USE flags (of its IUSE) and
``:=`` bindings the plan asked for. The file
is copied to a temporary name beside its final place and renamed, then the index
is updated (``binhost.packages_file``: in place, one batch at once): no client ever sees an index entry for a missing or
half-written file.
"""

from __future__ import annotations

import hashlib
import os
import re
import shutil
from collections.abc import Sequence
from pathlib import Path

from swarm_celery.binhost.gpkg import InvalidBinpkg
from swarm_celery.binhost.gpkg_read import read_gpkg_metadata
from swarm_celery.binhost.index import IndexEntry
from swarm_celery.binhost.intake import Taken, fault, take, where
from swarm_celery.binhost.packages_file import upsert_index
from swarm_celery.binhost.renumber import next_build_id, renumber_gpkg, same_build
from swarm_celery.binhost.signing import GpgSigner, sign_gpkg
from swarm_celery.domain.cpv import split_cpv
from swarm_celery.domain.records import PackageInfo, PublishedArtifact
from swarm_celery.errors import ArtifactError

MAX_ARTIFACT_BYTES = 8 * 1024**3
SIMULATED_KEY = "BUILD_SWARM_SIMULATED"  # metadata file every simulated GPKG carries
SIGNING_KEY_FILE = "build-swarm-signing-key.asc"  # beside the arch trees: GET /binhost/build-swarm-signing-key.asc


class BinhostPublisher:
    def __init__(self, root: Path, uploads: Path | None = None, signer: GpgSigner | None = None, staging: Path | None = None,
                 limit: int = MAX_ARTIFACT_BYTES) -> None:
        self.root = root  # SWARM_HOME/binhost; one tree per arch below it
        self.uploads = uploads  # where the API put drones' uploads: an artifact_path "upload://<attempt>/<name>" is found here
        self.staging = staging  # where drones on this host (or a shared filesystem) leave "<staging>/<attempt>/<name>"
        self.limit = limit
        self.signer = signer  # sign every published GPKG (portage's binpkg-signing scheme), and serve the public key
        if signer is not None:
            root.mkdir(parents=True, exist_ok=True)
            key = root / SIGNING_KEY_FILE
            key.write_bytes(signer.public_key())  # what `binhost client-config` tells clients to import

    def tree(self, arch: str) -> Path:
        return self.root / arch

    def holds(self, arch: str, path: str) -> bool:
        """Whether the arch's staging tree still holds ``path`` (a file it published; the budget may have pruned it)."""
        return bool(path) and (self.tree(arch) / path).is_file()

    def publish(self, arch: str, artifact: Path, sha256: str, package: PackageInfo, simulated_ok: bool = True) -> PublishedArtifact:
        outcome = self.publish_many(arch, [(artifact, sha256, package)], simulated_ok)[0]
        if isinstance(outcome, ArtifactError):
            raise outcome
        return outcome

    def publish_many(self, arch: str, items: Sequence[tuple[Path, str, PackageInfo]],
                     simulated_ok: bool = False) -> list[PublishedArtifact | ArtifactError]:
        """Check and place each artifact, then rewrite the index once for all that passed (a batch of completions).

        One result per item, in order: what was published, or why that artifact was rejected (the others go on).
        A simulated GPKG is refused unless ``simulated_ok`` (the batch belongs to simulated sessions): a real binhost
        never serves a package nobody compiled.
        """
        outcomes: list[PublishedArtifact | ArtifactError] = []
        entries: list[IndexEntry] = []
        header = {"ARCH": arch, "ACCEPT_KEYWORDS": arch}
        for artifact, sha256, package in items:
            attempt = package.current_attempt or ""
            try:
                area, name = where(str(artifact), attempt, self.uploads, self.staging)
                taken = take(area, attempt, name, self.tree(arch), self.limit)
                try:
                    entry, published, chost = self._place(arch, taken, name, sha256, package, simulated_ok)
                finally:
                    taken.path.unlink(missing_ok=True)
            except ArtifactError as exc:
                outcomes.append(exc)
                continue
            except OSError as exc:  # the tree's disk, not the artifact: this artifact's outcome, never the batch's
                outcomes.append(fault(exc, f"{package.cpv} could not be placed in the binhost"))
                continue
            if area == self.uploads:  # its copy is in the tree now
                shutil.rmtree(area / attempt, ignore_errors=True)
            entries.append(entry)
            outcomes.append(published)
            if chost:
                header["CHOST"] = chost
        if entries:
            upsert_index(self.tree(arch) / "Packages", entries, header)
        return outcomes

    def _place(self, arch: str, taken: Taken, name: str, sha256: str, package: PackageInfo,
               simulated_ok: bool) -> tuple[IndexEntry, PublishedArtifact, str]:
        """Verify the coordinator's copy of one artifact and move it into the tree (not yet in the index)."""
        if taken.sha256 != sha256:
            raise ArtifactError(f"sha256 mismatch for {name}: drone said {sha256[:12]}…, file is {taken.sha256[:12]}…")
        metadata = _check_metadata(taken.path, name, package)
        if metadata.get(SIMULATED_KEY) and not simulated_ok:
            raise ArtifactError(f"{name} is a simulated build ({SIMULATED_KEY}): refused for a session of real builds")
        cpv = split_cpv(package.cpv)
        build_id, name = self._build_id(arch, taken, name, package, metadata)
        rel = f"{cpv.category}/{cpv.package}/{name}"  # binpkg-multi-instance layout: <PF>-<BUILD_ID>.gpkg.tar
        dest = self.tree(arch) / rel
        dest.parent.mkdir(parents=True, exist_ok=True)
        if dest.exists():  # this very build, published already (a redelivered report): the file stays as it is
            size, digest, sha1 = _digests(dest)
        else:
            size, digest, sha1 = taken.size, taken.sha256, taken.sha1
            if self.signer is not None:
                sign_gpkg(taken.path, self.signer)
            if self.signer is not None or build_id != _metadata_build_id(metadata):
                size, digest, sha1 = _digests(taken.path)  # the index describes the file as served
            os.replace(taken.path, dest)
        entry = IndexEntry(
            cpv=package.cpv, path=rel, sha1=sha1, size=size,
            mtime=int(dest.stat().st_mtime),  # MTIME: without it portage finds no digests for a fetched package and refuses it
            build_time=int(metadata.get("BUILD_TIME", "0") or 0), slot=metadata.get("SLOT", package.slot),
            repo=package.repo, use=tuple(metadata.get("USE", "").split()), eapi=metadata.get("EAPI", "8"),
            build_id=build_id,
            iuse=metadata.get("IUSE", ""), keywords=metadata.get("KEYWORDS", ""),
            depend=metadata.get("DEPEND", ""), rdepend=metadata.get("RDEPEND", ""),
            bdepend=metadata.get("BDEPEND", ""), pdepend=metadata.get("PDEPEND", ""),
            provides=metadata.get("PROVIDES", ""), requires=metadata.get("REQUIRES", ""),  # else "blank PROVIDES!" on clients
        )
        return entry, PublishedArtifact(path=rel, sha256=digest, size=size), metadata.get("CHOST", "")

    def _build_id(self, arch: str, taken: Taken, name: str, package: PackageInfo, metadata: dict[str, str]) -> tuple[int, str]:
        """The BUILD_ID and file name the artifact is published under: the drone's, unless the binhost holds a file of
        that name already (a rebuild): then one above every BUILD_ID of the package there, written into the GPKG."""
        cpv = split_cpv(package.cpv)
        pf = package.cpv.split("/", 1)[1]
        named = re.fullmatch(re.escape(pf) + r"-([0-9]+)\.gpkg\.tar", name)
        wanted = int(named.group(1)) if named else _metadata_build_id(metadata)
        directory = self.tree(arch) / cpv.category / cpv.package
        if named and same_build(directory / name, taken.path):
            return wanted, name
        build_id = next_build_id(directory, pf, wanted)
        if build_id != _metadata_build_id(metadata) or not named or build_id != wanted:
            renumber_gpkg(taken.path, pf, build_id)
        return build_id, f"{pf}-{build_id}.gpkg.tar"


def _metadata_build_id(metadata: dict[str, str]) -> int:
    value = metadata.get("BUILD_ID", "")
    return int(value) if value.isdigit() and int(value) > 0 else 1


def _digests(path: Path) -> tuple[int, str, str]:
    """Size, sha256 and sha1 of a file, in one read."""
    h256, h1, size = hashlib.sha256(), hashlib.sha1(), 0
    with path.open("rb") as handle:
        for block in iter(lambda: handle.read(1 << 20), b""):
            h256.update(block)
            h1.update(block)
            size += len(block)
    return size, h256.hexdigest(), h1.hexdigest()


def _check_metadata(artifact: Path, name: str, package: PackageInfo) -> dict[str, str]:
    try:
        metadata = read_gpkg_metadata(artifact)
    except InvalidBinpkg as exc:
        raise ArtifactError(f"{name} is not a valid GPKG: {exc}") from None
    found = f"{metadata.get('CATEGORY', '')}/{metadata.get('PF', '')}"
    if found != package.cpv:
        raise ArtifactError(f"{name} holds {found}, but {package.cpv} was asked for")
    slot, _, sub_slot = metadata.get("SLOT", "").partition("/")
    if slot and slot != package.slot:
        raise ArtifactError(f"{name} has SLOT {slot}, but the plan says {package.slot}")
    simulated = bool(metadata.get(SIMULATED_KEY))  # a simulated build is told the main SLOT only
    if slot and package.sub_slot and not simulated and (sub_slot or slot) != package.sub_slot:
        raise ArtifactError(f"{name} has sub-slot {sub_slot or slot}, but the plan says {package.sub_slot} "
                            "(was it built from another version of its ebuild?)")
    repo = metadata.get("repository", "")
    if repo and repo != package.repo:
        raise ArtifactError(f"{name} comes from ::{repo}, but the plan says ::{package.repo}")
    _check_use(name, metadata, package)
    _check_slot_deps(name, metadata, package)
    return metadata


def _check_slot_deps(name: str, metadata: dict[str, str], package: PackageInfo) -> None:
    """Each ``:=`` dependency must be bound to the sub-slot the plan resolved: portage writes the binding it built against
    into the package's DEPEND/RDEPEND (``dev-libs/foo:0/2=``); a drone that linked an older library installed from an
    earlier build would be caught here."""
    deps = f"{metadata.get('DEPEND', '')} {metadata.get('RDEPEND', '')}"
    for binding in package.slot_deps:
        cp, _, slot = binding.partition(":")
        found = set(re.findall(r"(?<![\w+.-])" + re.escape(cp) + r"(?:-[0-9][^\s:\[\]]*)?:([^\s\[\]=]+)=", deps))
        if found - {slot}:
            raise ArtifactError(f"{name} was built against {cp}:{', '.join(sorted(found - {slot}))}, but the plan binds it to "
                                f"{cp}:{slot}: the drone did not have the planned {cp} installed")


def _check_use(name: str, metadata: dict[str, str], package: PackageInfo) -> None:
    """The flags of the package's own IUSE must be set as the plan resolved them (a drone's package.use, or a binary
    dependency built otherwise, would change what it is); implicit flags (arch, elibc, kernel) are the profile's."""
    iuse = {flag.lstrip("+-") for flag in metadata.get("IUSE", "").split()}
    built = set(metadata.get("USE", "").split()) & iuse
    planned = set(package.use) & iuse
    if built != planned:
        added, dropped = sorted(built - planned), sorted(planned - built)
        change = ", ".join([*(f"+{f}" for f in added), *(f"-{f}" for f in dropped)])
        raise ArtifactError(f"{name} was built with USE {change} against the plan (USE=\"{' '.join(sorted(planned))}\"): "
                            "the drone's configuration differs from the plan's")
