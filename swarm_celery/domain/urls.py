"""URLs as they may be shown: a broker or database URL names its host, never its password."""

from __future__ import annotations

from urllib.parse import urlsplit, urlunsplit


def without_password(url: str) -> str:
    """``redis://:secret@host:6379/0`` → ``redis://:**@host:6379/0``; anything without a password as it is."""
    try:
        parts = urlsplit(url)
        if parts.password is None:
            return url
        port = f":{parts.port}" if parts.port else ""
    except ValueError:
        return "(an unreadable URL)"
    return urlunsplit(parts._replace(netloc=f"{parts.username or ''}:**@{parts.hostname or ''}{port}"))
