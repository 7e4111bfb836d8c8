"""Celery's configuration module for the module-level app (:mod:`swarm_celery.celery`): the broker from
``SWARM_BROKER_URL``, and the routing, delivery guarantees, transport options and beat schedule build-swarm's own
workers use, from the ``SWARM_*`` environment. Celery imports it when it first needs its configuration.
"""

from swarm_celery import bootstrap as _bootstrap
from swarm_celery.settings import Settings as _Settings

globals().update(_bootstrap.celery_command_config(_Settings.from_env()))
