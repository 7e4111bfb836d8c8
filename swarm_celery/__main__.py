"""``python -m swarm_celery`` is the ``build-swarm`` command."""

from swarm_celery.cli.main import main

main()
