#!/usr/bin/env bash
# The main job of README.md: set up, then `build-swarm demo` with the arguments given.
#   scripts/demo.sh                      the shipped synthetic tree (or /var/db/repos/gentoo, or $SWARM_REPO)
#   scripts/demo.sh --repo ../shared/gentoo/repo --repo ../shared/gentoo/supplement \
#       --world ../shared/gentoo/sets/medium.txt --portage-config ../shared/gentoo/portage-config
set -euo pipefail
cd "$(dirname "$0")/.."
scripts/setup.sh >&2
exec .venv/bin/build-swarm demo "$@"
