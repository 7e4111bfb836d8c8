#!/usr/bin/env bash
# The test command of README.md: set up, start services, run the checks and every test.
#   scripts/test.sh            everything (lint, types, import contracts, unit + contract + integration tests)
#   scripts/test.sh -k demo    extra arguments go to pytest
#   scripts/test.sh --fast     the inner loop, under a minute: lint, types, contracts, the pure and store tests
#                              (memory and SQLite; no services started, Postgres cases left out)
set -euo pipefail
cd "$(dirname "$0")/.."
fast=0
if [[ ${1:-} == --fast ]]; then
  fast=1
  shift
fi
scripts/setup.sh
((fast)) || scripts/services.sh
echo "== ruff" && .venv/bin/ruff check swarm_celery tests benchmarks
echo "== mypy --strict" && .venv/bin/mypy
echo "== import contracts" && .venv/bin/lint-imports --no-cache | tail -n 9
echo "== pytest"
if ((fast)); then
  exec .venv/bin/python -m pytest tests/unit tests/contract -m "not postgres" -q "$@"
fi
exec .venv/bin/python -m pytest "$@"
