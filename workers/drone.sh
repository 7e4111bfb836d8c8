#!/usr/bin/env bash
# Drone worker: queues build.<SWARM_ARCH> and drone.<name>, prefork pool, one build per slot.
# Needs SWARM_BROKER_URL, SWARM_ARCH, SWARM_HOME (staging); never database credentials.
exec build-swarm worker --role drone --name "${SWARM_DRONE_NAME:-$(hostname -s)}" --concurrency "${SWARM_SLOTS:-1}" "$@"
