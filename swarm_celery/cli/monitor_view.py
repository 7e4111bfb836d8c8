"""What `build-swarm monitor` draws each refresh: running sessions with progress and ETA, each drone's builds, the latest events.

Pure rendering of the read models into rich renderables; the loop is in monitor_cmd.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Sequence

from rich.console import Group, RenderableType
from rich.progress_bar import ProgressBar
from rich.table import Table
from rich.text import Text

from swarm_celery.domain.board import Overview, SessionProgress, without_subject
from swarm_celery.domain.progress import clock_duration as duration
from swarm_celery.domain.progress import elapsed_ratio
from swarm_celery.domain.views import DroneView, EventView


def frame(overview: Overview, drones: Sequence[DroneView], events: Sequence[EventView], interval: float) -> RenderableType:
    now = overview.at
    head = Text.assemble(("build-swarm monitor", "bold"), f"  {dt.datetime.fromtimestamp(now):%H:%M:%S}  every {interval:g} s",
                         "  q quits", style="")
    parts: list[RenderableType] = [head]
    if overview.paused:
        parts.append(Text("the swarm is PAUSED: no new build starts (`build-swarm control resume`)", style="bold yellow"))
    parts += [sessions_table(overview.sessions), drones_table(overview.sessions, drones, now), events_table(events)]
    return Group(*parts)


def sessions_table(sessions: Sequence[SessionProgress]) -> Table | Text:
    running = [s for s in sessions if s.session.state in ("running", "planning")] or list(sessions[:1])
    if not running:
        return Text("no sessions yet: `build-swarm queue add` or `build-swarm demo`")
    table = Table("session", "state", "progress", "done", "failed", "ETA", title="sessions", title_justify="left", expand=False)
    for p in running:
        s = p.session
        failed = s.counts.get("failed", 0) + s.counts.get("blocked", 0)
        table.add_row(s.session, s.state + (" (sim)" if s.simulated else ""), ProgressBar(total=max(s.planned, 1), completed=p.done, width=30),
                      f"{p.done}/{s.planned}", str(failed), duration(p.eta_seconds))
    return table


def drones_table(sessions: Sequence[SessionProgress], drones: Sequence[DroneView], now: float) -> Table:
    building: dict[str, list[str]] = {}
    for p in sessions:
        for r in p.running:
            ratio = elapsed_ratio(r.started_at, r.expected, now, p.pace)
            elapsed = now - r.started_at if r.started_at else 0.0
            late = ratio is not None and ratio > 1.5
            text = f"{r.cpv} {duration(elapsed)}/{duration(r.expected * p.pace) if r.expected else '?'}" + (" LATE" if late else "")
            building.setdefault(str(r.drone), []).append(text)
    table = Table("drone", "state", "slots", "building (elapsed/expected)", title="drones", title_justify="left")
    for d in drones:
        state = d.state + (" paused" if d.paused else "") + (" grounded" if d.grounded_until and d.grounded_until > now else "")
        table.add_row(d.name, state, f"{d.in_flight}/{d.slots}", "\n".join(building.get(d.name, [])) or "-")
    return table


def events_table(events: Sequence[EventView]) -> Table:
    table = Table("time", "kind", "subject", "message", title="latest events", title_justify="left")
    for e in events:
        table.add_row(dt.datetime.fromtimestamp(e.ts).strftime("%H:%M:%S"), e.kind, e.subject or "-", without_subject(e.message or "", e.subject)[:100])
    return table
