#!/usr/bin/env bash
# Coordinator worker: queue `coordinator`, solo pool (the one writer of the store), node name coordinator@<host>.
# Needs SWARM_BROKER_URL and SWARM_DATABASE_URL (or SWARM_HOME for the SQLite default).
exec build-swarm worker --role coordinator --name "${SWARM_COORDINATOR_NAME:-coordinator}" "$@"
