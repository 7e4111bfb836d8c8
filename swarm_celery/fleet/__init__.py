"""Fleet adapters: Fabric (SSH) to the drone hosts for probes and the healing ladder's steps, and the alert webhook.

They implement :class:`~swarm_celery.ports.RemoteShell` and :class:`~swarm_celery.ports.Alerter`; what
to run and what it means is decided in :mod:`swarm_celery.domain.fleet` and :mod:`swarm_celery.services.fleet`.
"""
