"""Real plans for the benchmarks: a world set of the shared tree resolved once by real portage, then cached.

Sets: ``small`` and ``medium`` from ``../shared/gentoo/sets``, ``server`` (38 atoms)
from ``benchmarks/sets``. The plan is cached under ``.cache/bench`` by the request's
configuration hash, so a changed tree or set resolves again.
"""

from __future__ import annotations

import json
import os
from pathlib import Path

from swarm_celery.domain.model import Plan
from swarm_celery.resolve.adapter import PortageResolver, plan_from_json, plan_to_json
from swarm_celery.resolve.inputs import build_request, default_profile, read_world

ROOT = Path(__file__).resolve().parents[1]
SHARED = Path(os.environ.get("SWARM_TEST_SHARED", ROOT.parent / "shared"))
CACHE = ROOT / ".cache"


def world_file(name: str) -> Path:
    local = ROOT / "benchmarks" / "sets" / f"{name}.txt"
    return local if local.exists() else SHARED / "gentoo" / "sets" / f"{name}.txt"


def load_plan(name: str, arch: str = "amd64") -> Plan:
    gentoo = SHARED / "gentoo"
    request = build_request([gentoo / "repo", gentoo / "supplement"], default_profile(arch), arch,
                            read_world(world_file(name)), gentoo / "portage-config")
    cached = CACHE / "bench" / f"{name}-{arch}-{request.config_hash()[:16]}.json"
    if cached.exists():
        return plan_from_json(json.loads(cached.read_text()))
    plan = PortageResolver(CACHE / "test-portage").resolve(request)
    cached.parent.mkdir(parents=True, exist_ok=True)
    cached.write_text(json.dumps(plan_to_json(plan)))
    return plan
