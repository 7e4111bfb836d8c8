"""schemathesis against the API's own OpenAPI schema, over real HTTP: no 5xx, no response outside the schema.

The same command the README gives (`st run .../openapi.json`), once as the admin, once as a drone.
"""

from __future__ import annotations

import os
import re
import subprocess
import sys
from pathlib import Path

import pytest

from tests.integration.api_kit import ADMIN, api_world

CHECKS = "not_a_server_error,status_code_conformance,content_type_conformance,response_schema_conformance,response_headers_conformance"


@pytest.mark.parametrize("who", ["admin", "drone", "public"])
def test_schemathesis_finds_no_server_error_and_no_schema_violation(tmp_path: Path, who: str) -> None:
    with api_world(tmp_path, public_status=who == "public") as world:
        token = {"admin": ADMIN, "drone": world.tokens["drone-1"], "public": "none"}[who]
        argv = [str(Path(sys.executable).with_name("st")), "run", f"{world.url}/openapi.json", "-H", f"Authorization: Bearer {token}",
                "--checks", CHECKS, "--max-examples", os.environ.get("SWARM_SCHEMATHESIS_EXAMPLES", "40"), "--no-color"]
        if os.environ.get("SWARM_SCHEMATHESIS_SEED"):
            argv += ["--seed", os.environ["SWARM_SCHEMATHESIS_SEED"]]
        run = subprocess.run(argv, capture_output=True, text=True, timeout=600, check=False)
    summary = run.stdout[-3000:]
    assert run.returncode == 0, summary + run.stderr[-2000:]
    counts = re.search(r"(\d+) generated, (\d+) passed", summary)
    assert counts is not None and int(counts[1]) == int(counts[2]) > 100, summary
