"""Live progress for long operations (rich, on stderr): packages done/total, running per drone, ETA."""

from __future__ import annotations

from types import TracebackType

from rich.progress import BarColumn, MofNCompleteColumn, Progress, TaskID, TextColumn, TimeElapsedColumn, TimeRemainingColumn

from swarm_celery.cli.options import console
from swarm_celery.domain.config import ResolveRequest
from swarm_celery.domain.views import RunningBuild, SessionView
from swarm_celery.local.demo import DemoSummary
from swarm_celery.settings import Settings


class DemoProgress:
    def __init__(self, enabled: bool) -> None:
        self.enabled = enabled
        self.console = console(stderr=True, quiet=not enabled)
        self.progress = Progress(
            TextColumn("[bold]{task.description}"), BarColumn(), MofNCompleteColumn(), TimeElapsedColumn(),
            TextColumn("ETA"), TimeRemainingColumn(), TextColumn("{task.fields[running]}"),
            console=self.console, transient=False,
        )
        self.task: TaskID | None = None
        self.state = ""

    def intro(self, tree: str, request: ResolveRequest, drones: int, time_scale: float, settings: Settings) -> None:
        self.console.print(f"[bold]build-swarm demo[/]: {len(request.world)} world atoms from {tree}")
        how = (f"[yellow]builds are SIMULATED[/] (real build times × {time_scale})" if settings.builder == "simulate" else
               "builds are REAL (emerge in a private portage prefix per drone, the host's gcc and make)")
        self.console.print(f"profile {request.gentoo_profile} ({request.arch}), {drones} drones, {how}")
        self.console.print(f"data in {settings.home}, database {settings.database}")

    def __enter__(self) -> DemoProgress:
        if self.enabled:
            self.progress.start()
            self.task = self.progress.add_task("resolving @world with portage", total=None, running="")
        return self

    def __exit__(self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None) -> None:
        if self.enabled:
            self.progress.stop()

    def update(self, status: SessionView, running: list[RunningBuild]) -> None:
        if not self.enabled or self.task is None:
            return
        done = sum(status.counts[s] for s in ("published", "failed", "blocked", "skipped", "cancelled"))
        per_drone = ", ".join(f"{r.drone}: {r.cpv}" for r in sorted(running, key=lambda r: str(r.drone)))
        description = "building" if status.state == "running" else status.state
        if status.state == "planning":
            description = "resolving @world with portage"
        total = status.planned or None
        self.progress.update(self.task, description=description, total=total, completed=done, running=per_drone[:120])

    def summary(self, summary: DemoSummary) -> None:
        self.console.quiet = False
        c = self.console
        c.print(f"\n[bold green]session {summary.session} {summary.state}[/] in {summary.wall_seconds} s "
                f"({summary.drones} drones, broker: {summary.broker}, builds simulated: {summary.simulated})")
        c.print(f"planned {summary.planned}  published {summary.published}  failed {summary.failed}  "
                f"blocked {summary.blocked}  skipped {summary.skipped}")
        if summary.hindsight_bound > 0:
            retried = f", {summary.retried} failed tries built again" if summary.retried else ""
            c.print(f"makespan {summary.makespan:.1f} s = {summary.makespan / summary.hindsight_bound:.3f} × the hindsight lower bound "
                    f"({summary.hindsight_bound:.1f} s: what any schedule needed, given what the builds really took{retried})")
        c.print(f"binhost: {summary.binhost}  (Packages index + GPKGs)")
        c.print(f"database: {summary.database_url}")
        c.print(f"next: build-swarm history --session {summary.session}   build-swarm status --session {summary.session}")


