"""What a user names on the command line (trees, a world file, a portage configuration, a baseline, a saved plan), read
into the values the services take. Light on purpose: `build-swarm resolve` needs no broker, record or web framework."""

from __future__ import annotations

import json
from pathlib import Path

from swarm_celery.domain.config import ResolveRequest, default_profile
from swarm_celery.domain.model import Plan
from swarm_celery.errors import ConfigError
from swarm_celery.resolve.adapter import PortageResolver, plan_from_resolve_output, plan_to_json
from swarm_celery.resolve.inputs import DEFAULT_GENTOO_REPO, build_request, check_repo, read_baseline, read_text, read_world
from swarm_celery.settings import Settings

AGAIN = "pass a file written by `build-swarm resolve --json`"


def request_from_options(settings: Settings, repos: tuple[Path, ...], world_file: Path | None, portage_config: Path | None,
                         gentoo_profile: str | None, arch: str, baseline_file: Path | None = None) -> tuple[ResolveRequest, str]:
    """The ResolveRequest and a one-line description of which tree it uses: --repo, else SWARM_REPO, else
    /var/db/repos/gentoo, else the synthetic tree shipped with the package."""
    chosen = list(repos) or ([settings.repo] if settings.repo is not None else []) or \
        ([DEFAULT_GENTOO_REPO] if DEFAULT_GENTOO_REPO.is_dir() else [])
    if chosen:
        chosen = [check_repo(p) for p in chosen]  # a missing --repo is named before anything else
        world = read_world(world_file) if world_file else read_world(Path("/var/lib/portage/world"))
        tree = "Gentoo tree " + ", ".join(str(p) for p in chosen)
    else:
        from swarm_celery.resolve.synthetic import SYNTHETIC_REPO_NAME, synthetic_world, write_synthetic_repo

        chosen = [write_synthetic_repo(settings.home / "synthetic-repo")]
        world = read_world(world_file) if world_file else tuple(synthetic_world())
        tree = f"the shipped synthetic tree ::{SYNTHETIC_REPO_NAME} (no --repo, no SWARM_REPO, no /var/db/repos/gentoo)"
    baseline = read_baseline(baseline_file, chosen) if baseline_file is not None else ()
    request = build_request(chosen, gentoo_profile or default_profile(arch), arch, tuple(world), portage_config, baseline)
    return request, tree


def resolver(settings: Settings) -> PortageResolver:
    return PortageResolver(settings.cache_dir)


def read_saved_plan(path: Path) -> Plan:
    """An earlier `resolve --json` output; a one-line ConfigError saying what is wrong otherwise."""
    text = read_text(path, "", AGAIN)
    try:
        data = json.loads(text)
    except json.JSONDecodeError as exc:
        raise ConfigError(f"{path} is not JSON ({exc.msg}, line {exc.lineno}); {AGAIN}") from None
    try:
        return plan_from_resolve_output(data)
    except ValueError as exc:
        raise ConfigError(f"{path}: {exc}; {AGAIN}") from None


def plan_json(plan: Plan) -> dict[str, object]:
    """The `build-swarm resolve --json` shape of a plan."""
    return plan_to_json(plan)


__all__ = ["DEFAULT_GENTOO_REPO", "check_repo", "plan_json", "read_saved_plan", "read_world", "request_from_options", "resolver"]
