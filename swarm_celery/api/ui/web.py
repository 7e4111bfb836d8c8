"""What every dashboard page shares: templates, who is looking, security headers, formatting filters.

Pages are rendered on the server (Jinja2); ``static/ui.js`` only refreshes the live parts of a
page (it fetches their HTML again from ``/ui/part/...``) and follows build logs.
"""

from __future__ import annotations

import datetime as dt
import time
from pathlib import Path
from typing import Annotated, Any
from urllib.parse import quote

from fastapi import Depends, HTTPException, Request
from fastapi.responses import HTMLResponse
from fastapi.templating import Jinja2Templates

from swarm_celery.api.auth import Ctx
from swarm_celery.api.ui.session import COOKIE, Signer, Viewer
from swarm_celery.domain.board import without_subject

HERE = Path(__file__).parent
templates = Jinja2Templates(directory=HERE / "templates")
HEADERS = {
    "Content-Security-Policy": "default-src 'self'; img-src 'self' data:; style-src 'self'; script-src 'self'; "
                               "frame-ancestors 'none'; form-action 'self'; base-uri 'none'",
    "X-Content-Type-Options": "nosniff",
    "Referrer-Policy": "same-origin",
    "Cache-Control": "no-store",
}
PART = "x-swarm-part"  # the header the live refresh sends: answer 401, not a redirect, when the login ran out


class LoginNeeded(Exception):
    """Raised by a page whose viewer must log in; the app answers with a redirect to /ui/login (or 401 for a live part)."""

    def __init__(self, next_path: str, admin: bool) -> None:
        self.next_path = next_path
        self.admin = admin


def signer(request: Request) -> Signer:
    found: Signer | None = getattr(request.app.state, "ui_signer", None)
    if found is None:
        found = request.app.state.ui_signer = Signer(request.app.state.ctx.config.admin_token)
    return found


def viewer(request: Request, ctx: Ctx) -> Viewer:
    """The admin (a valid login cookie), else a reader when status is public; else the login page."""
    found = signer(request).check(request.cookies.get(COOKIE))
    if found is not None:
        return found
    if ctx.config.public_status:
        return Viewer(admin=False)
    raise LoginNeeded(request.url.path + (f"?{request.url.query}" if request.url.query else ""), admin=False)


def admin(request: Request, found: Annotated[Viewer, Depends(viewer)]) -> Viewer:
    if not found.admin:
        raise LoginNeeded(request.url.path, admin=True)
    return found


Looker = Annotated[Viewer, Depends(viewer)]
Admin = Annotated[Viewer, Depends(admin)]


def page(request: Request, name: str, who: Viewer, status: int = 200, **values: Any) -> HTMLResponse:
    values.setdefault("title", name.removesuffix(".html").replace("_", " "))
    response = templates.TemplateResponse(request, name, {"viewer": who, "now": time.time(), **values}, status_code=status)
    response.headers.update(HEADERS)
    return response


def not_found(message: str) -> HTTPException:
    return HTTPException(404, message)


def clock(value: float | None) -> str:
    return dt.datetime.fromtimestamp(value).strftime("%H:%M:%S") if value else "–"


def date_time(value: float | None) -> str:
    return dt.datetime.fromtimestamp(value).strftime("%Y-%m-%d %H:%M") if value else "–"


def duration(seconds: float | None) -> str:
    if seconds is None:
        return "–"
    minutes, secs = divmod(round(seconds), 60)
    hours, minutes = divmod(minutes, 60)
    return f"{hours}h {minutes:02d}m" if hours else f"{minutes}m {secs:02d}s" if minutes else f"{secs}s"


def ago(value: float | None) -> str:
    return f"{duration(time.time() - value)} ago" if value else "never"


def mib(value: int | None) -> str:
    return "–" if value is None else f"{value / 1024:.1f} GiB" if value >= 10240 else f"{value} MiB"


templates.env.filters.update(without_subject=without_subject, clock=clock, date_time=date_time, duration=duration, ago=ago, mib=mib, urlquote=lambda v: quote(str(v), safe=""))
