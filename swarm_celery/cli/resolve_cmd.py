"""`build-swarm resolve`: the plan portage gives for a world, without building anything; `--diff` against an earlier plan."""

from __future__ import annotations

import time
from pathlib import Path

import click

from swarm_celery import bootstrap
from swarm_celery.cli.options import baseline_option, console, current_settings, emit_json, request_from_options, world_options
from swarm_celery.domain.graph import dispatch_gates, waves
from swarm_celery.domain.identity import PlanDiff, diff_plans, package_key
from swarm_celery.domain.model import Plan


@click.command()
@world_options
@baseline_option
@click.option("--allow-missing", is_flag=True, help="Drop world atoms that match no ebuild instead of failing.")
@click.option("--diff", "old_file", type=click.Path(path_type=Path), metavar="OLD.json",
              help="Show which binary-package identities are new, gone or changed (and why) against an earlier `resolve --json` output.")
@click.option("--json", "as_json", is_flag=True, help="Print the plan (with --diff: the diff) as JSON.")
def resolve(repos: tuple[Path, ...], world_file: Path | None, portage_config: Path | None, gentoo_profile: str | None,
            arch: str, baseline_file: Path | None, allow_missing: bool, old_file: Path | None, as_json: bool) -> None:
    """Resolve @world with real portage (--emptytree) into a build plan."""
    old = bootstrap.read_saved_plan(old_file) if old_file is not None else None  # a bad OLD.json fails before a long resolve
    settings = current_settings().with_(arch=arch)
    request, tree = request_from_options(settings, repos, world_file, portage_config, gentoo_profile, arch, baseline_file)
    status = console(stderr=True, quiet=as_json)
    started = time.perf_counter()
    with status.status(f"resolving {len(request.world)} atoms with portage against {tree}"):
        plan = bootstrap.resolver(settings).resolve(request, allow_missing=allow_missing)  # loads no broker, record or web code
    elapsed = time.perf_counter() - started
    if old is not None and old_file is not None:
        show_diff(diff_plans(old, plan), old, plan, old_file, as_json)
    elif as_json:
        emit_json(bootstrap.plan_json(plan) | {"seconds": round(elapsed, 2)})
    else:
        show_plan(plan, elapsed)


def show_plan(plan: Plan, elapsed: float) -> None:
    levels = waves(dispatch_gates(plan), plan.merge_order)
    out = console()
    out.print(f"{len(plan.packages)} packages in {elapsed:.1f} s (config {plan.config_hash}, baseline {len(plan.baseline)} packages)")
    out.print(f"{len(levels)} dispatch waves, {len(levels[0]) if levels else 0} packages ready at once; "
              f"{len(plan.dropped_edges)} edges dropped as portage's cycle breaks")
    for pkg in plan.packages:
        out.print(f"  {pkg.cpv}::{pkg.repo}  slot {pkg.slot}/{pkg.sub_slot}  build deps {len(pkg.build_deps)}  id {pkg.identity[:12]}",
                  highlight=False)


def show_diff(diff: PlanDiff, old: Plan, new: Plan, old_file: Path, as_json: bool) -> None:
    if as_json:
        emit_json(diff.to_json() | {"old_file": str(old_file), "old_config_hash": old.config_hash, "config_hash": new.config_hash})
        return
    lines = [f"against {old_file} (config {old.config_hash} → {new.config_hash}): {len(diff.new)} new, {len(diff.gone)} gone, "
             f"{len(diff.changed)} changed, {diff.unchanged} unchanged"]
    lines += [f"  new      {package_key(p.cpv, p.slot)}  {p.cpv}  id {p.identity[:12]}" for p in diff.new]
    lines += [f"  gone     {package_key(p.cpv, p.slot)}  {p.cpv}  id {p.identity[:12]}" for p in diff.gone]
    lines += [f"  changed  {c.key}  {c.old.identity[:12]} → {c.new.identity[:12]}: {'; '.join(r.text for r in c.reasons)}"
              for c in diff.changed]
    click.echo("\n".join(lines))  # plain lines, never wrapped: what scripts and people grep
