"""Running the whole swarm on one machine: a private broker and worker processes (used by `build-swarm demo`)."""
