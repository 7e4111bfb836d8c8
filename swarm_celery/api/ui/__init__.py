"""The farm dashboard under /ui: server-rendered pages, a little JavaScript for the live parts, no front-end build.

    pages.py    GET pages: overview, timeline (Gantt per drone), plan + explain, fleet, events, logs, SQL, control
    parts.py    what each page shows, rendered again for the live refresh; build-log chunks
    actions.py  POST forms: log in/out, SQL, controls (admin cookie + CSRF token)
    session.py  the login cookie (no token inside) and the CSRF token
    web.py      templates, who is looking, security headers, formatting
"""

from __future__ import annotations

from urllib.parse import urlencode

from fastapi import FastAPI, Request
from fastapi.responses import JSONResponse, RedirectResponse, Response
from fastapi.staticfiles import StaticFiles

from swarm_celery.api.ui import actions, pages, parts
from swarm_celery.api.ui.web import HERE, PART, LoginNeeded


def mount_ui(app: FastAPI) -> None:
    @app.exception_handler(LoginNeeded)
    async def login_needed(request: Request, exc: LoginNeeded) -> Response:
        if request.headers.get(PART):
            return JSONResponse({"error": "log in again"}, status_code=401)
        return RedirectResponse(f"/ui/login?{urlencode({'next': exc.next_path})}", status_code=303)

    for router in (pages.router, parts.router, actions.router):
        app.include_router(router)
    app.mount("/ui/static", StaticFiles(directory=HERE / "static"), name="ui-static")
