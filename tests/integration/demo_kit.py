"""Running the `build-swarm` CLI as a user would: a subprocess with its own SWARM_HOME."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path
from typing import Any


@dataclass
class Run:
    code: int
    stdout: str
    stderr: str

    def json(self) -> Any:
        return json.loads(self.stdout)


def cli_env(home: Path, portage_cache: Path, **extra: str) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("SWARM_")}
    env.update({"SWARM_HOME": str(home), "SWARM_BUILDER": "simulate"} | extra)  # a simulated swarm unless a test says otherwise
    cache = home / "cache"
    cache.mkdir(parents=True, exist_ok=True)
    for sub in ("dep", "baseline"):  # share the slow portage metadata cache between test homes
        link = cache / sub
        (portage_cache / sub).mkdir(parents=True, exist_ok=True)
        if not link.exists():
            link.symlink_to(portage_cache / sub)
    return env


def run_cli(args: list[str], env: dict[str, str], timeout: float = 600) -> Run:
    proc = subprocess.run([sys.executable, "-m", "swarm_celery", *args], env=env, capture_output=True, text=True,
                          timeout=timeout, check=False, stdin=subprocess.DEVNULL)
    return Run(proc.returncode, proc.stdout, proc.stderr)


def medium_args(shared: Path, world: Path | None = None) -> list[str]:
    gentoo = shared / "gentoo"
    return ["--repo", str(gentoo / "repo"), "--repo", str(gentoo / "supplement"),
            "--world", str(world or gentoo / "sets" / "medium.txt"), "--portage-config", str(gentoo / "portage-config")]


def parse_index(path: Path) -> list[dict[str, str]]:
    """Stanzas of a Packages file after the header, read as portage reads them: up to the first empty block, only
    those with a CPV."""
    blocks = path.read_text().split("\n\n\n")[0].split("\n\n")
    entries = []
    for block in blocks[1:]:
        fields = dict(line.split(": ", 1) for line in block.strip().splitlines() if ": " in line)
        if fields.get("CPV"):
            entries.append(fields)
    return entries


def check_gated_dispatch(history: list[dict[str, Any]], plan: dict[str, Any]) -> int:
    """No package dispatched before all of its build deps were published; returns the checks made."""
    published = {h["cpv"]: h["published_at"] for h in history if h["published_at"]}
    checks = 0
    for pkg in plan["packages"]:
        attempts = [h for h in history if h["cpv"] == pkg["cpv"]]
        for attempt in attempts:
            for dep in pkg["build_deps"]:
                assert dep in published, f"{pkg['cpv']} dispatched but its build dep {dep} never published"
                assert published[dep] <= attempt["dispatched_at"], f"{pkg['cpv']} dispatched before {dep} was published"
                checks += 1
    return checks
