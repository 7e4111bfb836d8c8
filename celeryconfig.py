"""Celery's configuration module for tools that load one by name (``celery --config celeryconfig ...`` in a checkout):
build-swarm's settings, with the broker from ``SWARM_BROKER_URL`` (see :mod:`swarm_celery.celeryconfig`)."""

from swarm_celery import celeryconfig as _config

globals().update({key: value for key, value in vars(_config).items() if not key.startswith("_")})
