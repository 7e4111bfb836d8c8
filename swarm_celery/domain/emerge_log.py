"""Build times from portage's ``/var/log/emerge.log``: what a machine really spent building each package.

``build-swarm history import`` feeds them to the scheduler's weights (the median of a package's
recorded builds beats the shipped table). The lines that matter, as portage writes them::

    1517699495:  >>> emerge (1 of 56) sys-process/parallel-20171222 to /
    1517699495:  === (1 of 56) Compiling/Merging (sys-process/parallel-20171222::/usr/portage/...)
    1517699507:  ::: completed emerge (1 of 56) sys-process/parallel-20171222 to /

A build runs from its ``>>> emerge`` line to the ``::: completed emerge`` line of the same CPV.
With ``--jobs`` several builds interleave, so they are paired by CPV, not by order. A merge of
a binary package (``=== (i of n) Merging Binary (...)``) is not a build and is left out; so are
builds that never completed (failed, interrupted) and completions whose start is not in the file.
Lines may hold NUL bytes (a log cut by a crash) or be garbage; they are counted, never fatal.
Timestamps are seconds since the epoch, so daylight-saving changes do not matter. Pure.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

_LINE = re.compile(r"^(\d+):\s+(.*)$")
_START = re.compile(r"^>>> emerge \(\d+ of \d+\) (\S+) to \S+")
_DONE = re.compile(r"^::: completed emerge \(\d+ of \d+\) (\S+) to \S+")
_BINARY = re.compile(r"^=== \(\d+ of \d+\) Merging Binary \(([^:)\s]+)::")


@dataclass(frozen=True, slots=True)
class LoggedBuild:
    cpv: str
    started: int  # seconds since the epoch
    finished: int

    @property
    def seconds(self) -> int:
        return self.finished - self.started


@dataclass(frozen=True, slots=True)
class EmergeLog:
    builds: tuple[LoggedBuild, ...]  # completed source builds, in order of completion
    binary_merges: int  # completed merges of binary packages (not builds)
    unfinished: int  # builds started and never completed (failed, interrupted, or cut off by the end of the file)
    unreadable: int  # lines that are not "<epoch>: <text>" (NUL bytes, truncation, garbage)


def parse_emerge_log(text: str) -> EmergeLog:
    """Every completed source build in an ``emerge.log`` (see the module docstring)."""
    running: dict[str, tuple[int, bool]] = {}  # cpv → (started at, is a binary merge)
    builds: list[LoggedBuild] = []
    binary = unreadable = abandoned = 0
    for raw in text.splitlines():
        line = raw.replace("\x00", "").strip()
        if not line:
            continue
        match = _LINE.match(line)
        if match is None:
            unreadable += 1
            continue
        ts, message = int(match.group(1)), match.group(2)
        if start := _START.match(message):
            abandoned += start.group(1) in running  # started again before it completed: the first never did
            running[start.group(1)] = (ts, False)
        elif (merge := _BINARY.match(message)) and merge.group(1) in running:
            running[merge.group(1)] = (running[merge.group(1)][0], True)
        elif (done := _DONE.match(message)) and done.group(1) in running:
            started, is_binary = running.pop(done.group(1))
            if is_binary:
                binary += 1
            elif ts >= started:
                builds.append(LoggedBuild(done.group(1), started, ts))
    return EmergeLog(tuple(builds), binary, abandoned + len(running), unreadable)
