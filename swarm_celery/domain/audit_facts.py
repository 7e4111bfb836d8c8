"""What a drone host is, gathered by one POSIX shell command and read back: the facts the golden-drone audit judges.

:data:`FACTS_SCRIPT` prints ``@@ SECTION`` headers, each followed by its lines, and ends with ``@@ end``; every
section is bounded at the source (``head``) and again here. :func:`parse_facts` never raises: whatever a host sends
(garbage, escape sequences, a cut-off stream, a section twice) becomes unknowns and ``problems``, and an output that
is not whole is marked incomplete, which :func:`swarm_celery.domain.audit.judge` fails. Pure: the command is run by
a fleet adapter (over SSH) or by a test (here), and :mod:`swarm_celery.domain.audit` builds its arguments.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field

FORMAT = "build-swarm-facts 1"
MAX_CHARS = 4 << 20  # the most of an output that is read: ~20,000 package names are 0.5 MB
MAX_LINE = 512  # longer lines are cut (no fact is longer)
MAX_ITEMS = 20_000  # lines per section (a drone has 200-2,000 packages installed)

# Arguments: ROOT TREE VENV NCOMMANDS COMMAND... PATH... (built by audit.facts_argv). ROOT is "" on a host (a test
# points it at a directory laid out like one: every file read is under it, and portageq reads its configuration
# there). LC_ALL=C: portage and coreutils speak English; every section's output is cut by head at the source.
FACTS_SCRIPT = r"""
LC_ALL=C; export LC_ALL
root=$1; tree=$2; venv=$3; ncommands=$4; shift 4
cap() { head -n 20000 | cut -c1-512; }
echo "@@ build-swarm-facts 1"
echo "@@ now"; date +%s
echo "@@ machine"; uname -m
echo "@@ profile"; readlink "$root/etc/portage/make.profile" 2>/dev/null | cap
echo "@@ tree"; head -n 1 "$root$tree/metadata/timestamp.chk" 2>/dev/null | cut -c1-512
echo "@@ version"
"$venv/bin/python" -c 'import importlib.metadata as m; print(m.version("swarm-celery"))' 2>/dev/null | head -n 1
echo "@@ features"
if [ -n "$root" ]; then PORTAGE_CONFIGROOT=$root; export PORTAGE_CONFIGROOT; fi
if command -v portageq >/dev/null 2>&1; then echo "known"; portageq envvar FEATURES 2>/dev/null | head -n 1; fi
echo "@@ commands"
i=0
while [ "$i" -lt "$ncommands" ]; do
  if found=$(command -v "$1" 2>/dev/null); then echo "$1 $found"; else echo "$1 -"; fi
  i=$((i + 1)); shift
done
echo "@@ paths"
for p; do
  if [ -d "$root$p" ]; then k=d; elif [ -f "$root$p" ]; then k=f; elif [ -e "$root$p" ]; then k=o; else k=-; fi
  echo "$k $p"
done
echo "@@ manager"
if [ -d "$root/run/systemd/system" ]; then manager=systemd; elif [ -d "$root/run/openrc" ]; then manager=openrc; else manager=none; fi
echo "$manager"
echo "@@ enabled"
case $manager in
  openrc) for f in "$root"/etc/runlevels/*/*; do [ -e "$f" ] && echo "${f##*/}"; done | cap ;;
  systemd) for f in "$root"/etc/systemd/system/*.wants/*; do [ -e "$f" ] && echo "${f##*/}"; done | cap ;;
esac
echo "@@ running"
case $manager in
  openrc) for f in "$root"/run/openrc/started/*; do [ -e "$f" ] && echo "${f##*/}"; done | cap ;;
  systemd) systemctl list-units --type=service --state=running --no-legend --plain 2>/dev/null | cut -d' ' -f1 | cap ;;
esac
echo "@@ world"; if [ -r "$root/var/lib/portage/world" ]; then cap < "$root/var/lib/portage/world"; fi
echo "@@ installed"
if cd "$root/var/db/pkg" 2>/dev/null; then for d in */*/; do [ -d "$d" ] && echo "${d%/}"; done | cap; fi
echo "@@ end"
"""

SECTIONS = ("now", "machine", "profile", "tree", "version", "features", "commands", "paths", "manager", "enabled", "running",
            "world", "installed", "end")
PATH_KINDS = {"d": "directory", "f": "file", "o": "other", "-": "missing"}
_CONTROL = re.compile(r"[\x00-\x08\x0a-\x1f\x7f-\x9f]")  # escape sequences and the like never reach a terminal
_CPV_SHAPE = re.compile(r"[A-Za-z0-9+_.-]+/[A-Za-z0-9+_.-]+")
_ATOM_SHAPE = re.compile(r"[A-Za-z0-9+_.:/=<>~*@-]+")


@dataclass(frozen=True, slots=True, kw_only=True)
class DroneFacts:
    """What the facts command found on one host ("" / None / empty: it did not say)."""

    complete: bool = False  # the output was ours and whole (header to ``@@ end``)
    now: float | None = None  # the host's clock when it answered (Unix time)
    machine: str = ""  # uname -m
    profile: str = ""  # /etc/portage/make.profile's target, relative to profiles/
    tree: str = ""  # the first line of the tree's metadata/timestamp.chk
    version: str = ""  # build-swarm's version in the drone's venv
    features: tuple[str, ...] | None = None  # portage's effective FEATURES (None: portageq is missing)
    commands: dict[str, str] = field(default_factory=dict)  # command → its path, or "" when missing
    paths: dict[str, str] = field(default_factory=dict)  # path → directory | file | other | missing
    manager: str = "none"  # openrc | systemd | none
    enabled: frozenset[str] = frozenset()  # services started at boot (systemd: unit names with their suffix)
    running: frozenset[str] = frozenset()
    world: tuple[str, ...] = ()  # the world file's atoms
    installed: tuple[str, ...] = ()  # cat/pf of every installed package
    problems: tuple[str, ...] = ()  # what was wrong with the output itself


def parse_facts(output: str) -> DroneFacts:
    """Read :data:`FACTS_SCRIPT`'s output; never raises."""
    sections, problems = _sections(output)
    if FORMAT not in sections.get("", []):
        problems.insert(0, f"not the output of the facts command (no '@@ {FORMAT}' line)")
    elif "end" not in sections:
        problems.insert(0, "the output stops before '@@ end' (cut short)")
    lines = {name: sections.get(name, []) for name in SECTIONS}
    features = lines["features"]
    return DroneFacts(
        complete=FORMAT in sections.get("", []) and "end" in sections,
        now=_number(_first(lines["now"])), machine=_first(lines["machine"]), profile=_profile(_first(lines["profile"])),
        tree=_first(lines["tree"])[:64], version=_first(lines["version"])[:64],
        features=tuple(features[1].split()) if features[:1] == ["known"] and len(features) > 1 else None,
        commands=_pairs(lines["commands"], problems, "commands"), paths=_paths(lines["paths"], problems),
        manager=m if (m := _first(lines["manager"])) in ("openrc", "systemd") else "none",
        enabled=frozenset(lines["enabled"]), running=frozenset(lines["running"]),
        world=_shaped(lines["world"], _ATOM_SHAPE, problems, "world"),
        installed=_shaped(lines["installed"], _CPV_SHAPE, problems, "installed"),
        problems=tuple(problems),
    )


def _sections(output: str) -> tuple[dict[str, list[str]], list[str]]:
    """Lines by section ("": before the first header); a section seen twice keeps its first lines."""
    problems: list[str] = []
    if len(output) > MAX_CHARS:
        problems.append(f"the output is over {MAX_CHARS} characters: only the first were read")
    sections: dict[str, list[str]] = {"": []}
    current: list[str] | None = sections[""]
    for raw in output[:MAX_CHARS].splitlines():
        line = _CONTROL.sub("?", raw[:MAX_LINE]).strip()
        if line.startswith("@@ ") and line[3:] in SECTIONS:
            current = None if line[3:] in sections else sections.setdefault(line[3:], [])
            if current is None:
                problems.append(f"section {line[3:]!r} appears twice: the first is kept")
        elif line.startswith("@@ ") and not sections[""] and current is sections[""]:
            current.append(line[3:])
        elif line and current is not None and len(current) < MAX_ITEMS:
            current.append(line)
    return sections, problems


def _first(lines: list[str]) -> str:
    return lines[0] if lines else ""


def _number(text: str) -> float | None:
    return float(text) if text.isdigit() else None


def _profile(target: str) -> str:
    head, sep, tail = target.partition("/profiles/")
    return (tail if sep else head).strip("/")


def _pairs(lines: list[str], problems: list[str], what: str) -> dict[str, str]:
    found: dict[str, str] = {}
    for line in lines:
        name, _, where = line.partition(" ")
        if not name or not where:
            problems.append(f"{what}: unreadable line {line[:80]!r}")
            continue
        found.setdefault(name, "" if where == "-" else where)
    return found


def _paths(lines: list[str], problems: list[str]) -> dict[str, str]:
    found: dict[str, str] = {}
    for line in lines:
        kind, _, path = line.partition(" ")
        if kind not in PATH_KINDS or not path.startswith("/"):
            problems.append(f"paths: unreadable line {line[:80]!r}")
            continue
        found.setdefault(path, PATH_KINDS[kind])
    return found


def _shaped(lines: list[str], shape: re.Pattern[str], problems: list[str], what: str) -> tuple[str, ...]:
    kept = tuple(line for line in lines if shape.fullmatch(line))
    if len(kept) < len(lines):
        problems.append(f"{what}: {len(lines) - len(kept)} unreadable lines ignored")
    return kept
