"""`build-swarm demo`: resolve a real @world, build it on local drones (simulated, or for real), publish a binhost."""

from __future__ import annotations

from pathlib import Path

import click

from swarm_celery.cli.options import current_settings, emit_json, request_from_options, world_options
from swarm_celery.cli.progress import DemoProgress
from swarm_celery.domain.simulation import parse_speeds
from swarm_celery.errors import UserError
from swarm_celery.local.demo import DemoOptions, run_demo
from swarm_celery.local.real_demo import check_tools, real_request, real_settings
from swarm_celery.settings import Settings


@click.command()
@world_options
@click.option("--drones", default=4, show_default=True, type=click.IntRange(1, 64), help="Drone workers to start.")
@click.option("--builder", type=click.Choice(["simulate", "emerge"]), default="simulate", show_default=True,
              help="emerge: build the shipped overlay for real (the host's gcc and make, each drone in its own portage prefix).")
@click.option("--time-scale", default=0.01, show_default=True, type=click.FloatRange(0.0), help="Simulated build time = real build time × this.")
@click.option("--durations", type=click.Path(path_type=Path, exists=True, dir_okay=False), help="CSV of package,seconds (default: shipped real build times).")
@click.option("--duration-noise", default=0.0, show_default=True, type=click.FloatRange(0.0, 3.0),
              help="Each package really takes its table time × a log-normal factor of this spread (0.3: typically ±30 %).")
@click.option("--duration-bias", default=1.0, show_default=True, type=click.FloatRange(0.01, 100.0),
              help="Every build takes this × its table time; the scheduler is not told (1.5: everything 50 % longer).")
@click.option("--drone-speeds", default="", metavar="LIST",
              help="One relative speed per drone, unknown to the scheduler (1,1,2,0.5: the third twice as fast, the fourth half).")
@click.option("--transient-failures", default=0.0, show_default=True, type=click.FloatRange(0.0, 0.9),
              help="Probability that a package's first try fails as an infrastructure failure (its retry succeeds).")
@click.option("--seed", default=0, show_default=True, type=click.IntRange(0), help="Seed of the noise and the failures: the same seed, the same world.")
@click.option("--scheduler", type=click.Choice(["critical-path", "fifo"]), default=None,
              help="critical-path (the default) or fifo: merge order to any free drone, to compare with.")
@click.option("--timeout", default=0.0, type=click.FloatRange(0.0), help="Give up after this many seconds (0: never).")
@click.option("--json", "as_json", is_flag=True, help="Print one JSON object with the summary.")
def demo(repos: tuple[Path, ...], world_file: Path | None, portage_config: Path | None, gentoo_profile: str | None, arch: str,
         drones: int, builder: str, time_scale: float, durations: Path | None, duration_noise: float, duration_bias: float,
         drone_speeds: str, transient_failures: float, seed: int, scheduler: str | None, timeout: float, as_json: bool) -> None:
    """Build a whole @world end to end on this machine (builds are SIMULATED; --builder emerge builds for real).

    The simulation can be wrong the way a real fleet is (--duration-noise, --duration-bias, --drone-speeds,
    --transient-failures): the summary then says how the makespan compares with the best any schedule could
    have done, judged in hindsight from what every build really took."""
    settings = demo_settings(current_settings(), arch, time_scale, durations)
    speeds = _speeds(drone_speeds, drones)
    settings = settings.with_(simulate_noise=duration_noise, simulate_bias=duration_bias, simulate_transient=transient_failures,
                              simulate_seed=seed, scheduler=scheduler or settings.scheduler)
    if builder == "emerge" and (speeds or duration_noise or duration_bias != 1.0 or transient_failures):
        raise UserError("--duration-noise, --duration-bias, --drone-speeds and --transient-failures shape simulated builds: "
                        "leave them out with --builder emerge")
    if builder == "emerge":
        if repos or world_file or portage_config or gentoo_profile:
            raise UserError("demo --builder emerge builds the shipped overlay; to build your own tree for real, run a coordinator "
                            "and prefix drones (see docs/real-builds.md)")
        check_tools()
        settings = real_settings(settings)
        request, tree = real_request(settings)
    else:
        request, tree = request_from_options(settings, repos, world_file, portage_config, gentoo_profile, arch)
    display = DemoProgress(enabled=not as_json)
    display.intro(tree, request, drones, time_scale, settings)
    with display:
        summary = run_demo(settings, request, DemoOptions(drones=drones, timeout=timeout, speeds=speeds), display.update)
    if summary.state == "failed":
        raise UserError(summary.error or "the session failed")
    if as_json:
        emit_json({k: getattr(summary, k) for k in _JSON_KEYS})
    else:
        display.summary(summary)


def _speeds(text: str, drones: int) -> tuple[float, ...]:
    if not text:
        return ()
    try:
        return parse_speeds(text, drones)
    except ValueError as exc:
        raise click.BadParameter(str(exc), param_hint="--drone-speeds") from None


def demo_settings(base: Settings, arch: str, time_scale: float, durations: Path | None) -> Settings:
    """Simulated builds; retry backoff scaled like build time; drones heart-beat often enough for a short run.

    Scaled-down builds last milliseconds, as long as a message round trip: each drone may then queue one
    build behind its running one (lookahead), placed only where it finishes first.
    """
    return base.with_(arch=arch, builder="simulate", time_scale=time_scale, durations_csv=str(durations.resolve()) if durations else "",
                      retry_backoff=base.retry_backoff * time_scale, heartbeat=min(base.heartbeat, 5.0),
                      lookahead=base.lookahead or (1 if time_scale < 0.1 else 0),
                      # a short run: a dead drone's work comes back within half a minute
                      offline_after=min(base.offline_after, 20.0), lease=min(base.lease, 20.0),
                      reclaim_every=min(base.reclaim_every, 5.0))


_JSON_KEYS: tuple[str, ...] = ("session", "planned", "published", "failed", "blocked", "skipped", "wall_seconds", "database_url", "binhost",
                               "makespan", "hindsight_bound", "retried")


