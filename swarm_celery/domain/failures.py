"""Classify a failed build from the tail of its log: the package's fault, or the infrastructure's.

Infrastructure failures (distfile fetch, full disk, out of memory, a killed build, our
timeout, a dependency the swarm binhost could not deliver, a rejected artifact, a plan's
configuration the drone cannot reproduce) are
retried on another drone and counted against the drone; the rest (portage could not
resolve the target, configure/compile/test/install failed, nothing recognised) count
against the package.

Precedence, highest first:

1. infrastructure evidence anywhere in the tail (timeout > configuration > no binary package written >
   disk full > out of memory > binhost > fetch > killed): a compile phase whose linker hit a full disk is a full disk;
2. an exit code that means "killed by SIGKILL/SIGTERM" (137, -9, 143, -15);
3. portage's ``ERROR: cat/pkg-ver::repo failed (PHASE phase):`` line;
4. compiler/build-system error lines when portage's line is missing (configure, compile);
5. portage refusing to resolve the target (masked, blocker, REQUIRED_USE, no ebuild);
6. otherwise UNKNOWN.

The phase is reported whenever portage printed it, whatever the kind. Every pattern
starts with a literal, has no nested quantifiers and never crosses a line; each runs
once over the whole (lower-cased) tail, so the cost stays linear in its size.
"""

from __future__ import annotations

import enum
import re
import string
from collections.abc import Callable, Sequence
from dataclasses import dataclass


class FailureKind(enum.StrEnum):
    FETCH = "fetch"  # distfile download / network / checksum of a fetched file
    DISK_FULL = "disk_full"  # ENOSPC, "No space left on device"
    OOM = "oom"  # OOM killer, "virtual memory exhausted", cc1plus killed
    KILLED = "killed"  # the build was killed by a signal
    TIMEOUT = "timeout"  # "build-swarm: build timed out after N s"
    BINHOST = "binhost"  # a dependency could not be installed from the swarm binhost
    ARTIFACT = "artifact"  # the built artifact was lost or rejected (by the coordinator), or emerge wrote none
    CONFIG = "config"  # the drone cannot build with the plan's configuration (its prefix lacks the profile, a repository, ...)
    DEPENDENCY = "dependency"  # portage refused to resolve the target on the drone
    CONFIGURE = "configure"
    COMPILE = "compile"
    TEST = "test"
    INSTALL = "install"  # install, preinst, postinst phases
    PHASE = "phase"  # any other ebuild phase (setup, unpack, prepare, pretend, ...), or a package-side fetch problem
    UNKNOWN = "unknown"  # nothing recognised: counted against the package
    COORDINATOR = "coordinator"  # the coordinator could not take the artifact (its disk is full): counted against no one

    @property
    def infrastructure(self) -> bool:
        return self in INFRASTRUCTURE


INFRASTRUCTURE = frozenset({FailureKind.FETCH, FailureKind.DISK_FULL, FailureKind.OOM, FailureKind.KILLED, FailureKind.TIMEOUT,
                            FailureKind.BINHOST, FailureKind.ARTIFACT, FailureKind.CONFIG})

KILL_EXIT_CODES = frozenset({137, -9, 143, -15})  # 128 + SIGKILL / SIGTERM, or subprocess's negative signal number

_LABELS = {
    FailureKind.FETCH: "fetch failed", FailureKind.DISK_FULL: "disk full", FailureKind.OOM: "out of memory",
    FailureKind.KILLED: "killed", FailureKind.TIMEOUT: "timed out", FailureKind.BINHOST: "binary dependency unavailable",
    FailureKind.ARTIFACT: "artifact rejected", FailureKind.CONFIG: "the drone cannot build this plan",
    FailureKind.DEPENDENCY: "dependencies unresolvable on the drone",
    FailureKind.CONFIGURE: "configure failed", FailureKind.COMPILE: "compile failed", FailureKind.TEST: "tests failed",
    FailureKind.INSTALL: "install failed", FailureKind.PHASE: "ebuild failed", FailureKind.UNKNOWN: "build failed",
    FailureKind.COORDINATOR: "the coordinator could not take it",
}
COORDINATOR_FULL = "build-swarm: the coordinator's disk is full"  # what a drone's report says when its upload got a 507

_PHASE_KINDS = {"configure": FailureKind.CONFIGURE, "compile": FailureKind.COMPILE, "test": FailureKind.TEST,
                "install": FailureKind.INSTALL, "preinst": FailureKind.INSTALL, "postinst": FailureKind.INSTALL}


@dataclass(frozen=True, slots=True)
class Classification:
    kind: FailureKind
    phase: str | None  # the phase named by portage's "ERROR: ... failed (PHASE phase):" line, if any
    line: str  # the log line that decided the classification (stripped), "" if none

    @property
    def infrastructure(self) -> bool:
        return self.kind.infrastructure

    def summary(self) -> str:
        """One line for humans: ``compile phase failed: <line>``, ``out of memory (compile phase): <line>``."""
        if self.phase and not self.infrastructure:
            label = f"{self.phase} phase failed"
        else:
            label = _LABELS[self.kind] + (f" ({self.phase} phase)" if self.phase else "")
        return f"{label}: {self.line}" if self.line else label


def _rx(*alternatives: str) -> re.Pattern[str]:
    """Alternatives written in lower case, matched against the lower-cased tail: case-insensitive without re.IGNORECASE,
    and every alternative starts with a literal, so the regex engine can skip ahead (a 40,000-line tail takes milliseconds)."""
    return re.compile("|".join(alternatives), re.MULTILINE)


_ANSI = re.compile(r"\x1b\[[0-9;?]*[A-Za-z]")
_LOWER = str.maketrans(string.ascii_uppercase, string.ascii_lowercase)  # keeps offsets, unlike str.lower()
_PHASE = re.compile(r"ERROR: \S+ failed(?: \((\w+) phase\))?:")  # portage's own line, matched as printed

# None of these may cross a newline: they run over the whole cleaned tail, one log line per line.
_TIMEOUT = _rx(r"build-swarm: build timed out")
_COORDINATOR = _rx(r"build-swarm: the coordinator's disk is full")
_DISK_FULL = _rx(r"no space left on device", r"enospc", r"disk quota exceeded", r"\[errno 28\]", r"insufficient space to store",
                 r"build-swarm: not enough free disk")
_ARTIFACT = _rx(r"build-swarm: no binary package", r"build-swarm: upload failed")
_CONFIG = _rx(r"build-swarm: cannot reproduce the build configuration")
_OOM = _rx(r"virtual memory exhausted", r"cannot allocate memory", r"out of memory: kill", r"out of memory allocating",
           r"llvm error: out of memory", r"runtime: out of memory", r"javascript heap out of memory", r"outofmemoryerror",
           r"memory allocation of \d+ bytes failed", r"killed signal terminated program", r"internal compiler error: killed",
           r"terminated with signal 9 \[killed\]")
# A binary package fetched before the merge (portage 3.0.83 "pre-merge checks", FEATURES=parallel-fetch) only says
# "Fetch of CPV failed, see <EPREFIX>/var/log/emerge-fetch.log" (the 404 is in that log); one that fails verification
# (an untrusted or missing signing key, a bad signature) says "Binary package is not usable" / "Invalid binary package".
_BINHOST = _rx(r"fetching binary failed", r"tried to use non-existent binary", r"there are no binary packages to satisfy",
               r"all binary packages that could satisfy", r"binhost's packages index lacks", r"fetch of \S+ failed, see ",
               r"binary package is not usable", r"invalid binary package: ")
# Package-side fetch problems: they fail the same way on every drone, so they count against the package.
_PACKAGE_FETCH = _rx(r"has fetch restriction turned on", r"due to invalid src_uri")
_FETCH = _rx(r"couldn't download '", r"fetch failed for", r"verify failed!", r"unable to establish ssl connection",
             r"unable to resolve host address", r"\.\.\. failed: (?:connection refused|connection timed out|network is unreachable"
             r"|no route to host|temporary failure in name resolution|name or service not known)",
             r"error 404: not found", r"curl: \(\d+\) ", r"unable to fetch from any of egit_repo_uri")
_KILLED = _rx(r"has been killed by signal", r"killed by signal (?:9|15|sigkill|sigterm)\b", r"terminated by signal (?:9|15|sigkill|sigterm)\b",
              r"exiting on signal (?:9|15)$", r"signal: (?:9|15), sig(?:kill|term)", r"\] (?:killed|terminated)$",
              r"\] error 1(?:37|43)$", r": line \d+: +\d+ (?:killed|terminated) ")

_DIGEST = _rx(r"digest verification failed")
_PATH = re.compile(r"(?:^|\s)/\S")
_BINPKG = _rx(r"\.gpkg\.tar", r"\.tbz2", r"\.xpak", r"/binpkgs/", r"/packages/", r"binhost")
_NO_EBUILDS = _rx(r"there are no ebuilds to satisfy", r"there are no ebuilds built with use flags to satisfy")
_REQUIRED_BY = re.compile(r"^\(dependency required by ")

_CONFIGURE_HINT = _rx(r"configure: error:", r"cmake error", r"meson\.build:\d+:\d+: error:")
_COMPILE_HINT = _rx(r":\d+:\d+: error:", r":\d+:\d+: fatal error:", r"\] error \d+$",
                    r"ninja: build stopped: subcommand failed", r"error: ld returned \d+ exit status", r"emake failed")
_DEPENDENCY = _rx(r"all ebuilds that could satisfy", r"the ebuild selected to satisfy", r"required_use flag constraints are unsatisfied",
                  r"multiple package instances within a single package slot", r"problem resolving dependencies",
                  r"\[blocks b ", r"contains packages which cannot be")

Rule = Callable[[str, str], "str | None"]  # (cleaned tail, the same lower-cased) -> the deciding line, or None
Accept = Callable[[str, list[str]], bool]  # (candidate line, the two lines after it), lower-cased -> does it decide?


def _any(*patterns: re.Pattern[str]) -> re.Pattern[str]:
    return _rx(*(pattern.pattern for pattern in patterns))


def _following(text: str, pos: int, count: int = 2) -> list[str]:
    lines: list[str] = []
    while pos < len(text) and len(lines) < count:
        end = text.find("\n", pos)
        end = len(text) if end < 0 else end
        lines.append(text[pos:end])
        pos = end + 1
    return lines


def _last_line(pattern: re.Pattern[str], accept: Accept | None = None) -> Rule:
    """The last line holding a match of ``pattern`` (and, with ``accept``, passing it given the lines after it)."""
    def rule(text: str, low: str) -> str | None:
        for match in reversed(list(pattern.finditer(low))):
            start = low.rfind("\n", 0, match.start()) + 1
            end = low.find("\n", match.end())
            end = len(low) if end < 0 else end
            if accept is None or accept(low[start:end], _following(low, end + 1)):
                return text[start:end]
        return None
    return rule


def _required_by(after: list[str]) -> bool:
    return bool(after) and _REQUIRED_BY.search(after[0]) is not None


def _binpkg_digest(line: str, after: list[str]) -> bool:
    """Portage names the failing file on the next line; a bare "Digest verification failed" is taken for a binary package."""
    context = " ".join(after)
    return _DIGEST.search(line) is not None and (_PATH.search(context) is None or _BINPKG.search(context) is not None)


def _binhost(line: str, after: list[str]) -> bool:
    """A binary package missing or corrupt, or a dependency that nothing on the drone satisfies (it should come from the binhost)."""
    return _BINHOST.search(line) is not None or (_NO_EBUILDS.search(line) is not None and _required_by(after)) or _binpkg_digest(line, after)


def _fetch(line: str, after: list[str]) -> bool:
    """A distfile download failed, or a distfile / repository file failed its Manifest checksum."""
    return _FETCH.search(line) is not None or (_DIGEST.search(line) is not None and not _binpkg_digest(line, after))


def _unresolvable(line: str, after: list[str]) -> bool:
    return _DEPENDENCY.search(line) is not None or (_NO_EBUILDS.search(line) is not None and not _required_by(after))


# (kind, rule) in precedence order; within a rule the last matching line decides.
_INFRA_RULES: tuple[tuple[FailureKind, Rule], ...] = (
    (FailureKind.COORDINATOR, _last_line(_COORDINATOR)),
    (FailureKind.TIMEOUT, _last_line(_TIMEOUT)),
    (FailureKind.CONFIG, _last_line(_CONFIG)),
    (FailureKind.ARTIFACT, _last_line(_ARTIFACT)),
    (FailureKind.DISK_FULL, _last_line(_DISK_FULL)),
    (FailureKind.OOM, _last_line(_OOM)),
    (FailureKind.BINHOST, _last_line(_any(_BINHOST, _NO_EBUILDS, _DIGEST), _binhost)),
    (FailureKind.PHASE, _last_line(_PACKAGE_FETCH)),  # not infrastructure, but must beat FETCH ("Fetch failed for" follows it)
    (FailureKind.FETCH, _last_line(_any(_FETCH, _DIGEST), _fetch)),
    (FailureKind.KILLED, _last_line(_KILLED)),
)
_HINT_RULES: tuple[tuple[FailureKind, Rule], ...] = (
    (FailureKind.CONFIGURE, _last_line(_CONFIGURE_HINT)),
    (FailureKind.COMPILE, _last_line(_COMPILE_HINT)),
    (FailureKind.DEPENDENCY, _last_line(_any(_DEPENDENCY, _NO_EBUILDS), _unresolvable)),
)
_PHASE_LINE = _last_line(_PHASE)  # run on the text as printed: (text, text)


def _first_rule(text: str, low: str, rules: Sequence[tuple[FailureKind, Rule]]) -> tuple[FailureKind, str] | None:
    for kind, rule in rules:
        line = rule(text, low)
        if line is not None:
            return kind, line
    return None


def classify_failure(log_tail: str, exit_code: int | None = None) -> Classification:
    """Why did this build fail? ``log_tail`` is the end of the emerge output, ``exit_code`` the build's exit status."""
    text = "\n".join(clean for clean in (raw.strip() for raw in _ANSI.sub("", log_tail).splitlines()) if clean)
    low = text.translate(_LOWER)
    phase_line = _PHASE_LINE(text, text)
    phase_match = _PHASE.search(phase_line) if phase_line is not None else None
    phase = phase_match.group(1) if phase_match else None
    infra = _first_rule(text, low, _INFRA_RULES)
    if infra is not None:
        return Classification(infra[0], phase, infra[1])
    if exit_code in KILL_EXIT_CODES:
        return Classification(FailureKind.KILLED, phase, "")
    if phase_line is not None:
        return Classification(_PHASE_KINDS.get(phase or "", FailureKind.PHASE), phase, phase_line)
    hint = _first_rule(text, low, _HINT_RULES)
    if hint is not None:
        return Classification(hint[0], None, hint[1])
    return Classification(FailureKind.UNKNOWN, None, "")
