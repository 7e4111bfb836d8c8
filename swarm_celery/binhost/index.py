"""The binhost ``Packages`` index: render and parse its text.

``binhost.packages_file`` keeps the staging index up to date from these pieces (in place, a batch at a
time); ``binhost.generations`` cuts a generation's index out of it (:func:`select_index`); clients are
portage's binarytree (``emerge --getbinpkg``, ``PKGDIR``).

The text is exactly what portage 3.0.83 writes (``getbinpkg.PackageIndex.write`` driven by
``dbapi/bintree.py``): a header block, a blank line, then one block per package, each block
``KEY: value`` lines in sorted order of portage's *internal* key names, empty values left out,
ending in a blank line. Keys are renamed on disk: ``_mtime_``→``MTIME``, ``repository``→``REPO``,
``DESCRIPTION``→``DESC`` (so MTIME and REPO come last). Package blocks are sorted by CPV (plain
string order); a value equal to ``_pkgindex_default_pkg_data`` (``EAPI: 0``, ``SLOT: 0``, empty
deps...) is omitted, and so are ``CHOST``/``REPO`` when equal to the header's (inherited keys).
``PATH`` (binpkg-multi-instance layout ``cat/pn/pf-N.gpkg.tar``) and ``BUILD_ID`` are always
written. Remote clients need ``TIMESTAMP`` and ``VERSION`` <= 0 in the header, and re-read the
index only when TIMESTAMP grew, so every update keeps it strictly increasing and sets the
file's mtime (what an HTTP server says as Last-Modified) to TIMESTAMP + :data:`PORTAGE_TIMESTAMP_TOLERANCE`: portage
asks with ``If-Modified-Since: <its copy's TIMESTAMP> + 5 s``, so with mtime = TIMESTAMP an index rewritten within
five seconds of the client's copy was answered 304 and the client kept the stale copy (a drone then compiled a
dependency the binhost had just published). Now an unchanged index is 304 and any rewrite is 200. Locally the index is just as
vital: FEATURES=pkgdir-index-trusted (a make.globals default) makes portage take a PKGDIR's
packages from ``Packages`` alone, without scanning the directory. The staging index on disk is this text with an
empty line and zeros after it, and batches appended in place (``binhost.packages_file``); :func:`parse_index` and
:func:`select_index` stop at that empty line, as portage does. Pure standard library.
"""

from __future__ import annotations

import hashlib
import os
import re
import tempfile
from collections.abc import Callable, Iterable, Iterator, Mapping
from dataclasses import dataclass
from pathlib import Path

# bintree._pkgindex_default_pkg_data: a value equal to its default is not written
DEFAULT_PKG_DATA = {
    "BDEPEND": "", "BUILD_ID": "", "BUILD_TIME": "", "DEFINED_PHASES": "", "DEPEND": "", "EAPI": "0", "IDEPEND": "",
    "IUSE": "", "KEYWORDS": "", "LICENSE": "", "PATH": "", "PDEPEND": "", "PROPERTIES": "", "PROVIDES": "",
    "RDEPEND": "", "REQUIRES": "", "RESTRICT": "", "SLOT": "0", "USE": "",
}
_KEY = re.compile(r"[^\s:]+")
INHERITED_KEYS = ("CHOST", "repository")  # bintree._pkgindex_inherited_keys
_TO_DISK = {"DESCRIPTION": "DESC", "_mtime_": "MTIME", "repository": "REPO"}  # bintree._pkgindex_translated_keys
_FROM_DISK = {v: k for k, v in _TO_DISK.items()}
_ENTRY_KEYS = frozenset({
    "CPV", "PATH", "SHA1", "SIZE", "BUILD_TIME", "SLOT", "repository", "USE", "MD5", "BUILD_ID", "DEFINED_PHASES", "EAPI",
    "DEPEND", "RDEPEND", "BDEPEND", "PDEPEND", "IUSE", "KEYWORDS", "LICENSE", "RESTRICT", "PROVIDES", "REQUIRES", "CHOST", "_mtime_",
})  # the internal keys IndexEntry has attributes for; the rest goes to IndexEntry.extra


@dataclass(frozen=True)
class IndexEntry:
    cpv: str
    path: str  # relative to the binhost root: "app-misc/tmux/tmux-3.5a-1.gpkg.tar" ("" = portage's legacy <cpv>.tbz2)
    sha1: str
    size: int
    build_time: int
    slot: str
    repo: str
    use: tuple[str, ...]
    md5: str = ""
    build_id: int = 1
    defined_phases: str = ""
    eapi: str = "8"
    depend: str = ""
    rdepend: str = ""
    bdepend: str = ""
    pdepend: str = ""
    iuse: str = ""
    keywords: str = ""
    license: str = ""
    restrict: str = ""
    provides: str = ""
    requires: str = ""
    chost: str = ""  # "" = the header's CHOST
    mtime: int = 0  # MTIME: the file's st_mtime; portage's local PKGDIR scan compares it (0 = not written)
    extra: tuple[tuple[str, str], ...] = ()  # any other keys (on-disk names: IDEPEND, PROPERTIES, DESC...)

    def internal(self) -> dict[str, str]:
        """All values under portage's internal key names, as text (empty = unset)."""
        out = {
            "CPV": self.cpv, "PATH": self.path, "SHA1": self.sha1, "SIZE": str(self.size), "BUILD_TIME": _num(self.build_time),
            "SLOT": self.slot, "repository": self.repo, "USE": " ".join(self.use), "MD5": self.md5,
            "BUILD_ID": _num(self.build_id), "DEFINED_PHASES": self.defined_phases, "EAPI": self.eapi,
            "DEPEND": self.depend, "RDEPEND": self.rdepend, "BDEPEND": self.bdepend, "PDEPEND": self.pdepend,
            "IUSE": self.iuse, "KEYWORDS": self.keywords, "LICENSE": self.license, "RESTRICT": self.restrict,
            "PROVIDES": self.provides, "REQUIRES": self.requires, "CHOST": self.chost, "_mtime_": _num(self.mtime),
        }
        out.update((_FROM_DISK.get(k, k), v) for k, v in self.extra)
        return {k: _oneline(v) for k, v in out.items() if v}


def _num(value: int) -> str:
    return str(value) if value else ""


def _oneline(value: str) -> str:
    return " ".join(value.split())


def _internal_header(header: Mapping[str, str]) -> dict[str, str]:
    return {_FROM_DISK.get(k, k): _oneline(v) for k, v in header.items()}


def _block(items: Mapping[str, str]) -> str:
    bad = [key for key in items if not _KEY.fullmatch(key)]
    if bad:
        raise ValueError(f"bad Packages keys {bad}")
    return "".join(f"{_TO_DISK.get(k, k)}: {items[k]}\n" for k in sorted(items) if items[k]) + "\n"


def render_index(header: Mapping[str, str], entries: Iterable[IndexEntry]) -> str:
    """The Packages text for ``header`` and ``entries``, as portage writes it.

    ``header`` uses on-disk key names (ARCH, CHOST, TIMESTAMP, VERSION, ...); ``PACKAGES`` is set
    to the number of entries. Entries are sorted by CPV, then BUILD_ID.
    """
    ordered = sorted(entries, key=lambda e: (e.cpv, e.build_id))
    head = _internal_header(header)
    head["PACKAGES"] = str(len(ordered))
    inherited = tuple((key, head.get(key, "")) for key in INHERITED_KEYS)
    return "".join([_block(head), *(entry_block(entry, inherited) for entry in ordered)])


def header_block(header: Mapping[str, str]) -> str:
    """The header stanza for ``header`` (on-disk key names), as portage writes it: sorted, empty values left out."""
    return _block(_internal_header(header))


def entry_block(entry: IndexEntry, inherited: tuple[tuple[str, str], ...]) -> str:
    """One entry's stanza; ``inherited``: (internal key, header value) of :data:`INHERITED_KEYS`, left out when equal."""
    data = entry.internal()
    for key, value in inherited:
        if value and value == data.get(key):
            del data[key]
    for key, default in DEFAULT_PKG_DATA.items():
        if data.get(key) == default:
            data.pop(key, None)
    return _block(data)


def _blocks(text: str) -> Iterator[dict[str, str]]:
    """Key/value blocks the way PackageIndex._readpkgindex reads them (internal key names)."""
    block: dict[str, str] = {}
    for line in text.splitlines():
        if not line:
            yield block
            block = {}
            continue
        key, sep, value = line.partition(":")
        if sep:
            block[_FROM_DISK.get(key, key)] = value[1:]
    if block:
        yield block


def parse_index(text: str) -> tuple[dict[str, str], list[IndexEntry]]:
    """Header (on-disk key names) and entries of a Packages text, read as portage reads it.

    Like portage: an entry without CPV is skipped, an empty block ends the body, missing keys take
    ``DEFAULT_PKG_DATA`` (so a missing EAPI is "0"), CHOST/REPO are inherited from the header.
    """
    blocks = _blocks(text)
    head = next(blocks, {})
    header = {_TO_DISK.get(k, k): v for k, v in head.items()}
    entries = []
    for block in blocks:
        if not block:
            break
        if block.get("CPV"):
            entries.append(_entry(block, head))
    return header, entries


def _entry(block: Mapping[str, str], head: Mapping[str, str]) -> IndexEntry:
    data = {**DEFAULT_PKG_DATA, **{k: head[k] for k in INHERITED_KEYS if head.get(k)}, **block}

    def num(key: str) -> int:
        return int(data[key]) if data.get(key, "").isdigit() else 0

    get = data.get
    return IndexEntry(
        cpv=get("CPV", ""), path=get("PATH", ""), sha1=get("SHA1", ""), size=num("SIZE"), build_time=num("BUILD_TIME"),
        slot=get("SLOT", ""), repo=get("repository", ""), use=tuple(get("USE", "").split()), md5=get("MD5", ""),
        build_id=num("BUILD_ID"), defined_phases=get("DEFINED_PHASES", ""), eapi=get("EAPI", ""), depend=get("DEPEND", ""),
        rdepend=get("RDEPEND", ""), bdepend=get("BDEPEND", ""), pdepend=get("PDEPEND", ""), iuse=get("IUSE", ""),
        keywords=get("KEYWORDS", ""), license=get("LICENSE", ""), restrict=get("RESTRICT", ""), provides=get("PROVIDES", ""),
        requires=get("REQUIRES", ""), chost=get("CHOST", ""), mtime=num("_mtime_"),
        extra=tuple(sorted((_TO_DISK.get(k, k), v) for k, v in block.items() if k not in _ENTRY_KEYS)),
    )


def select_index(text: str, paths: set[str], header: Mapping[str, str],
                 rename: Callable[[str], str] = str) -> tuple[str, set[str]]:
    """The index of the packages of ``text`` whose PATH is in ``paths``, their blocks copied as they are (no parse)
    but for PATH, which becomes ``rename(PATH)``, under ``text``'s header updated with ``header`` (PACKAGES counted);
    and the paths found. A generation's index is its staging index cut down this way, in the same order."""
    head, _, body = text.partition("\n\n")
    end = body.find("\n\n\n")  # an empty block ends the index (what follows is not read: see binhost.packages_file)
    body = "" if body.startswith("\n") else body[: end + 2] if end >= 0 else body
    kept: list[str] = []
    found: set[str] = set()
    for block in body.split("\n\n"):
        match = _PATH.search(block)
        if match and match.group(1) in paths and _CPV.search(block):  # a block without CPV is not read by portage
            renamed = f"{block[:match.start(1)]}{rename(match.group(1))}{block[match.end(1):]}"
            kept.append(renamed.strip("\n") + "\n\n")
            found.add(match.group(1))
    values = {k: v.strip() for k, _, v in (line.partition(":") for line in head.splitlines()) if k}
    return _block(_internal_header({**values, **header, "PACKAGES": str(len(kept))})) + "".join(kept), found


_PATH = re.compile(r"^PATH: (.*)$", re.MULTILINE)
_CPV = re.compile(r"^CPV: ", re.MULTILINE)


def entry_from_binpkg(root: Path, rel_path: str, metadata: Mapping[str, str]) -> IndexEntry:
    """An entry for the package file ``root/rel_path`` with ``metadata`` (as read_gpkg_metadata gives it).

    SHA1, MD5, SIZE and MTIME come from the file; BUILD_ID from the metadata, else from a
    ``<PF>-<N>.gpkg.tar`` name, else 1.
    """
    file = Path(root) / rel_path
    sha1, md5 = hashlib.sha1(usedforsecurity=False), hashlib.md5(usedforsecurity=False)
    with file.open("rb") as handle:
        for chunk in iter(lambda: handle.read(1 << 20), b""):
            sha1.update(chunk)
            md5.update(chunk)
    st = file.stat()
    pf = metadata.get("PF", "")
    stem = Path(rel_path).name.removesuffix(".gpkg.tar")
    suffix = stem[len(pf) + 1 :] if stem.startswith(f"{pf}-") else ""
    build_id = metadata.get("BUILD_ID") or (suffix if suffix.isdigit() else "1")
    get = metadata.get
    return IndexEntry(
        cpv=f"{get('CATEGORY', '')}/{pf}", path=rel_path, sha1=sha1.hexdigest(), md5=md5.hexdigest(), size=st.st_size,
        mtime=int(st.st_mtime), build_time=int(get("BUILD_TIME", "0") or 0), build_id=int(build_id), slot=get("SLOT", "0"),
        repo=get("repository", ""), use=tuple(get("USE", "").split()), eapi=get("EAPI", "0"), iuse=get("IUSE", ""),
        keywords=get("KEYWORDS", ""), depend=get("DEPEND", ""), rdepend=get("RDEPEND", ""), bdepend=get("BDEPEND", ""),
        pdepend=get("PDEPEND", ""), defined_phases=get("DEFINED_PHASES", ""), license=get("LICENSE", ""),
        restrict=get("RESTRICT", ""), provides=get("PROVIDES", ""), requires=get("REQUIRES", ""), chost=get("CHOST", ""),
    )


# ----------------------------------------------------------------------------------------- writing


PORTAGE_TIMESTAMP_TOLERANCE = 5  # portage.util._urlopen.TIMESTAMP_TOLERANCE: added to its If-Modified-Since


def write_atomic(path: Path, text: str | bytes, mtime: int, size: int = 0) -> None:
    """Write ``text`` to ``path`` through a temporary file beside it (fsynced, mode 0644, mtime ``mtime``) and a rename;
    with ``size``, zeros follow it up to that size (a hole: no disk used)."""
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
    try:
        with os.fdopen(fd, "wb") as handle:
            handle.write(text.encode("utf-8") if isinstance(text, str) else text)
            if size:
                handle.truncate(size)
            handle.flush()
            os.fchmod(handle.fileno(), 0o644)
            os.utime(handle.fileno(), (mtime, mtime))
            os.fsync(handle.fileno())
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise
    dir_fd = os.open(path.parent, os.O_RDONLY)
    try:
        os.fsync(dir_fd)
    finally:
        os.close(dir_fd)

