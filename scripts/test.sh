#!/usr/bin/env bash
# The test command of README.md: set up, start services, run the checks and every test.
#   scripts/test.sh            everything (lint, types, import contracts, unit + integration tests)
#   scripts/test.sh -k demo    extra arguments go to pytest
set -euo pipefail
cd "$(dirname "$0")/.."
scripts/setup.sh
scripts/services.sh
echo "== ruff" && .venv/bin/ruff check swarm_celery tests benchmarks
echo "== mypy --strict" && .venv/bin/mypy
echo "== import contracts" && .venv/bin/lint-imports --no-cache | tail -n 8
echo "== pytest"
.venv/bin/python -m pytest "$@"
