"""Static Celery settings of build-swarm, for tools that load a config module (``celery -A ... --config``).

The running system builds its app with :func:`swarm_celery.app.create_app`, which
applies the same dictionary; this module only re-exports it.
"""

from swarm_celery.app import CELERY_DEFAULTS

globals().update(CELERY_DEFAULTS)
