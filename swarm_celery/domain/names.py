"""The shapes of every name and id that crosses a trust boundary: drones, attempts, sessions, arches, repos, flags.

One rule per kind, used wherever the value enters (a broker message, an HTTP path, the CLI, a setting, a token,
an operator control) and wherever it becomes part of something else (a queue name, a worker pattern, a file
path). A value that breaks its rule is refused with one line saying which rule, never repaired.
"""

from __future__ import annotations

import math
import re

from swarm_celery.domain.cpv import split_cpv

DRONE_NAME = re.compile(r"[A-Za-z0-9][A-Za-z0-9_.-]{0,62}")  # queue drone.<name>, worker <name>@<host>, drone-<name>.conf
RESERVED_NAMES = frozenset({"coordinator", "beat", "api", "flower"})  # what the swarm's own processes are called
ATTEMPT_ID = re.compile(r"[0-9a-f]{32}")  # uuid4().hex: also a file name on drones and in uploads
SESSION_ID = re.compile(r"[0-9a-f]{1,32}")
ARCH = re.compile(r"[a-z0-9]{1,16}")  # queue build.<arch>, binhost/<arch>/
REPO = re.compile(r"[A-Za-z0-9_][A-Za-z0-9_-]{0,127}")  # PMS repository names
SLOT = re.compile(r"[A-Za-z0-9_][A-Za-z0-9+_.-]{0,63}")
USE_FLAG = re.compile(r"[A-Za-z0-9][A-Za-z0-9+_@.-]{0,63}")
SHA256 = re.compile(r"[0-9a-f]{64}")
CONFIG_HASH = re.compile(r"[0-9a-f]{16,64}")  # a plan's portage configuration (domain.build_config)
PACKAGE_NAME = re.compile(r"[A-Za-z0-9_][A-Za-z0-9+_.-]{0,127}")  # PMS category and package names


def check_drone_name(name: object) -> str:
    """A drone's name, or ValueError saying what a name may be."""
    if not isinstance(name, str) or not DRONE_NAME.fullmatch(name):
        shown = repr(name)[:70] if isinstance(name, str) else type(name).__name__
        raise ValueError(f"drone name {shown} is not valid: use 1-63 letters, digits, '.', '_' or '-', starting with a letter or digit")
    if name in RESERVED_NAMES:
        raise ValueError(f"drone name {name!r} is reserved for the swarm's own processes: pick another")
    return name


def check(pattern: re.Pattern[str], value: object, what: str) -> str:
    """``value`` if it is a string of ``pattern``'s shape, else ValueError naming ``what``."""
    if value is None:
        raise ValueError(f"{what} is missing")
    if not isinstance(value, str) or not pattern.fullmatch(value):
        shown = repr(value)[:70] if isinstance(value, str) else f"of type {type(value).__name__}"
        raise ValueError(f"{what} {shown} is not valid")
    return value


def check_cpv(value: object) -> str:
    """``category/package-version`` of PMS names (it becomes an emerge atom and a path), else ValueError."""
    if not isinstance(value, str) or len(value) > 256:
        raise ValueError("cpv is not a category/package-version string")
    try:
        parsed = split_cpv(value)
    except ValueError:
        raise ValueError(f"cpv {value[:80]!r} is not a category/package-version") from None
    if not (PACKAGE_NAME.fullmatch(parsed.category) and PACKAGE_NAME.fullmatch(parsed.package)) or parsed.category.startswith("-"):
        raise ValueError(f"cpv {value[:80]!r} is not a category/package-version of PMS names")
    return value


def finite(value: object, what: str, low: float = 0.0, high: float = 1e13) -> float:
    """A number in [low, high] (a JSON number or its text), else ValueError: no NaN, no infinity."""
    if isinstance(value, bool) or not isinstance(value, int | float | str):
        raise ValueError(f"{what} is not a number")
    try:
        number = float(value)
    except ValueError:
        raise ValueError(f"{what} {str(value)[:30]!r} is not a number") from None
    if not math.isfinite(number) or not low <= number <= high:
        raise ValueError(f"{what} {number!r} is out of range [{low:g}, {high:g}]")
    return number


def whole(value: object, what: str, low: int = 0, high: int = 1 << 50) -> int:
    """An integer in [low, high] (a float with no fraction is accepted), else ValueError."""
    number = finite(value, what, float(low), float(high))
    if number != int(number):
        raise ValueError(f"{what} {number!r} is not a whole number")
    return int(number)


def text(value: object, what: str, limit: int) -> str:
    """A string of at most ``limit`` characters with no NUL, else ValueError (absent: "")."""
    if value is None:
        return ""
    if not isinstance(value, str):
        raise ValueError(f"{what} is not text")
    if len(value) > limit or "\0" in value:
        raise ValueError(f"{what} is longer than {limit} characters or holds a NUL")
    return value


def tail(value: object, what: str, limit: int) -> str:
    """The last ``limit`` characters of a string (a log tail may be long; only its end matters), else ValueError."""
    if value is None:
        return ""
    if not isinstance(value, str):
        raise ValueError(f"{what} is not text")
    return value[-limit:].replace("\0", "")


def glob_literal(name: str) -> str:
    """``name`` with fnmatch's special characters escaped, for a worker pattern built from it."""
    return re.sub(r"([*?\[\]])", r"[\1]", name)
