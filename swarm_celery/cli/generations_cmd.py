"""`build-swarm binhost generations | create | publish | rollback | keep | release | tag | diff | purge | gc`."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any, TypeVar

import click

from swarm_celery import bootstrap
from swarm_celery.cli.options import JSON_HELP, current_settings, emit_json
from swarm_celery.domain.disk_budget import format_size, parse_size
from swarm_celery.domain.generations import GenerationDiff, GenerationRef
from swarm_celery.errors import UserError
from swarm_celery.services.generations import GenerationView

F = TypeVar("F", bound=Callable[..., Any])
ARCHES = click.Choice(["amd64", "arm64"])


def json_option(func: F) -> F:
    return click.option("--json", "as_json", is_flag=True, help=JSON_HELP)(func)


def ref(text: str) -> GenerationRef:
    try:
        return GenerationRef.parse(text)
    except ValueError as exc:
        raise UserError(str(exc)) from None


def show(view: GenerationView, as_json: bool, what: str = "") -> None:
    if as_json:
        emit_json(view.to_json())
        return
    click.echo(f"{what}{line(view)}" if what else line(view))


def line(view: GenerationView) -> str:
    g = view.generation
    marks = ["PUBLISHED"] * view.published + ["kept"] * view.kept + [f"tag {t}" for t in view.tags]
    snapshot = f"snapshot {g.snapshot}" if g.snapshot else "no tree snapshot"
    return (f"{g.ref}  {g.packages} packages  session {g.session or '-'}  {snapshot}"
            + (f"  [{', '.join(marks)}]" if marks else "") + (f"  ({g.note})" if g.note else ""))


@click.command(name="generations")
@click.option("--profile", default="", help="Only this build profile's.")
@click.option("--arch", default="", help="Only this arch's.")
@json_option
def generations(profile: str, arch: str, as_json: bool) -> None:
    """List the binhost generations (PROFILE/ARCH/N), which one clients are served, tags and keeps."""
    views = bootstrap.generations(current_settings()).views(profile, arch)
    if as_json:
        emit_json([v.to_json() for v in views])
    elif not views:
        click.echo("no generations yet: one is made when a build profile's session completes "
                   "(`build-swarm profile sync NAME`), or by `build-swarm binhost create --session ID`")
    else:
        click.echo("\n".join(line(v) for v in views))


@click.command(name="create")
@click.option("--session", "session_id", required=True, help="A complete session: its world becomes the generation.")
@click.option("--profile", default="", help="The build profile it belongs to (default: the session's).")
@click.option("--publish/--no-publish", default=None, help="Publish it at once (default: when every package was published).")
@json_option
def create(session_id: str, profile: str, publish: bool | None, as_json: bool) -> None:
    """Make a generation of a complete session's world by hand (one is made when a profile's session completes)."""
    view = bootstrap.generations(current_settings()).for_session(session_id, profile, publish)
    show(view, as_json, "made ")


@click.command(name="publish")
@click.argument("generation")
@json_option
def publish(generation: str, as_json: bool) -> None:
    """Serve GENERATION (PROFILE/ARCH/N) to the profile's clients, switched in one atomic step."""
    show(bootstrap.generations(current_settings()).publish(ref(generation)), as_json, "published ")


@click.command(name="rollback")
@click.option("--profile", required=True, help="The build profile whose clients go back.")
@click.option("--arch", default="amd64", show_default=True, type=ARCHES)
@json_option
def rollback(profile: str, arch: str, as_json: bool) -> None:
    """Serve the generation published before the current one again."""
    show(bootstrap.generations(current_settings()).rollback(profile, arch), as_json, "published ")


@click.command(name="keep")
@click.argument("generation")
@json_option
def keep(generation: str, as_json: bool) -> None:
    """Keep GENERATION: `binhost purge` never removes it (until `binhost release`)."""
    show(bootstrap.generations(current_settings()).keep(ref(generation), True), as_json)


@click.command(name="release")
@click.argument("generation")
@json_option
def release(generation: str, as_json: bool) -> None:
    """Stop keeping GENERATION (purge may remove it once no other rule protects it)."""
    show(bootstrap.generations(current_settings()).keep(ref(generation), False), as_json)


@click.command(name="tag")
@click.argument("generation")
@click.argument("name")
@click.option("--remove", is_flag=True, help="Remove the tag instead.")
@json_option
def tag(generation: str, name: str, remove: bool, as_json: bool) -> None:
    """Tag GENERATION as NAME (a tag names one generation of a profile/arch; tagged ones are never purged)."""
    show(bootstrap.generations(current_settings()).tag(ref(generation), name, remove), as_json)


@click.command(name="diff")
@click.argument("old")
@click.argument("new")
@json_option
def diff(old: str, new: str, as_json: bool) -> None:
    """What a client moving from OLD to NEW gets: packages added, removed, and changed with why."""
    found = bootstrap.generations(current_settings()).diff(ref(old), ref(new))
    if as_json:
        emit_json(diff_json(found))
        return
    for cpv in found.added:
        click.echo(f"+ {cpv}")
    for cpv in found.removed:
        click.echo(f"- {cpv}")
    for change in found.changed:
        click.echo(f"~ {change.old} → {change.new}: {'; '.join(change.reasons)}")
    click.echo(f"{len(found.added)} added, {len(found.removed)} removed, {len(found.changed)} changed, {found.same} the same")


def diff_json(found: GenerationDiff) -> dict[str, object]:
    return {"added": list(found.added), "removed": list(found.removed), "same": found.same,
            "changed": [{"key": c.key, "old": c.old, "new": c.new, "reasons": list(c.reasons)} for c in found.changed]}


@click.command(name="purge")
@click.option("--keep-last", type=click.IntRange(0, 10000), default=None, help="Keep the newest N per profile and arch "
              "(default: SWARM_GENERATIONS_KEEP).")
@click.option("--profile", default="", help="Only this build profile's.")
@click.option("--arch", default="", help="Only this arch's.")
@click.option("--buckets", is_flag=True, help="Also keep the newest of each of the last 7 days, 4 weeks and 12 months.")
@click.option("--budget", default=None, metavar="SIZE", help="Then fit the binhost into SIZE on disk (20G, 500M): the oldest "
              "generations neither published, kept nor tagged go, and superseded staging builds (default: SWARM_BINHOST_BUDGET).")
@click.option("--dry-run", is_flag=True, help="Say what would go and the bytes it would free, remove nothing.")
@json_option
def purge(keep_last: int | None, profile: str, arch: str, buckets: bool, budget: str | None, dry_run: bool, as_json: bool) -> None:
    """Remove generations no rule protects: the newest N, tagged, kept and published ones stay."""
    settings = current_settings()
    size = budget_bytes(settings.binhost_budget if budget is None else budget)
    done = bootstrap.generations(settings).purge(settings.generations_keep if keep_last is None else keep_last, profile, arch,
                                                 dry_run, buckets, size)
    if as_json:
        emit_json(done.to_json())
        return
    verb = "would remove" if dry_run else "removed"
    click.echo(f"{verb} {len(done.removed)}: {' '.join(done.removed) or '-'}")
    for name, why in sorted(done.kept.items()):
        click.echo(f"kept {name}: {why}")
    if done.budget is not None:
        fit = done.budget
        click.echo(f"budget {format_size(fit.budget)}: {format_size(fit.used_before)} used, {format_size(fit.used_after)} "
                   f"{'would be' if dry_run else 'now'}; {verb} {len(fit.removed)} generations and {len(fit.pruned)} "
                   f"superseded staging builds, {'freeing' if dry_run else 'freed'} {format_size(fit.freed)} ({fit.freed} bytes)")
        for path in fit.pruned:
            click.echo(f"  staging {path}")
        if fit.problem:
            click.echo(fit.problem)


def budget_bytes(text: str) -> int | None:
    """The budget in bytes (None when there is none)."""
    if not text.strip():
        return None
    try:
        return parse_size(text)
    except ValueError as exc:
        raise UserError(f"--budget / SWARM_BINHOST_BUDGET: {exc}") from None


@click.command(name="gc")
@click.option("--dry-run", is_flag=True, help="Say what would go, remove nothing.")
@json_option
def gc(dry_run: bool, as_json: bool) -> None:
    """Remove staging GPKGs no index names, uploads of attempts that never published, and what interrupted generation
    steps left behind."""
    found = bootstrap.generations(current_settings()).gc(["amd64", "arm64"], dry_run)
    if as_json:
        emit_json({"removed": found, "dry_run": dry_run})
        return
    click.echo(("would remove" if dry_run else "removed") + f" {len(found)}" + "".join(f"\n  {p}" for p in found))


COMMANDS = (generations, create, publish, rollback, keep, release, tag, diff, purge, gc)
