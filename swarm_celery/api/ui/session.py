"""Who is looking at the dashboard: the admin (a signed login cookie), a public reader (SWARM_PUBLIC_STATUS=1), or nobody.

Logging in with the admin token sets a cookie that holds no token: an expiry and a nonce,
signed with a key derived from the token (changing SWARM_API_TOKEN logs everyone out). The
cookie is HttpOnly and SameSite=Strict, and every form that changes something carries a CSRF
token derived from the same nonce, checked on POST: a page elsewhere can neither send the
cookie along nor know the token.
"""

from __future__ import annotations

import hashlib
import hmac
import secrets
import time
from dataclasses import dataclass

COOKIE = "swarm_ui"
LIFETIME = 12 * 3600.0  # seconds a login lasts


@dataclass(frozen=True)
class Viewer:
    admin: bool
    csrf: str = ""  # the token the admin's forms carry ("" for a public reader)


class Signer:
    def __init__(self, admin_token: str) -> None:
        self.enabled = bool(admin_token)
        self._key = hashlib.sha256(b"build-swarm dashboard session\0" + admin_token.encode()).digest()

    def issue(self, now: float | None = None) -> str:
        expiry = int((now or time.time()) + LIFETIME)
        body = f"{expiry}.{secrets.token_hex(16)}"
        return f"{body}.{self._sign(body)}"

    def check(self, cookie: str | None, now: float | None = None) -> Viewer | None:
        """The admin this cookie belongs to; None when it is missing, forged, expired or signed with another token."""
        if not self.enabled or not cookie or cookie.count(".") != 2:
            return None
        body, _, signature = cookie.rpartition(".")
        if not hmac.compare_digest(signature, self._sign(body)):
            return None
        expiry, _, nonce = body.partition(".")
        if not expiry.isdigit() or int(expiry) < (now or time.time()):
            return None
        return Viewer(admin=True, csrf=self._sign(f"csrf.{nonce}")[:32])

    def _sign(self, text: str) -> str:
        return hmac.new(self._key, text.encode(), hashlib.sha256).hexdigest()


def csrf_ok(viewer: Viewer, given: str) -> bool:
    return bool(viewer.csrf) and hmac.compare_digest(viewer.csrf, given)
