"""/metrics in Prometheus text format: the record's gauges (read at scrape time) and the API's own counters."""

from __future__ import annotations

from collections.abc import Iterator

from prometheus_client import CollectorRegistry, Counter
from prometheus_client.core import GaugeMetricFamily, Metric
from prometheus_client.registry import Collector

from swarm_celery.store.queries import Queries


class RecordCollector(Collector):
    def __init__(self, queries: Queries) -> None:
        self.queries = queries

    def collect(self) -> Iterator[Metric]:
        packages = GaugeMetricFamily("swarm_packages", "Packages of the newest session by state", labels=["session", "state"])
        latest = self.queries.latest_session()
        info = self.queries.session(latest) if latest else None
        if info is not None:
            for state, count in info.counts.items():
                packages.add_metric([info.session, state], count)
        yield packages
        drones = GaugeMetricFamily("swarm_drone_online", "1 when the drone is online", labels=["drone", "arch"])
        slots = GaugeMetricFamily("swarm_drone_slots", "Build slots of each drone", labels=["drone"])
        busy = GaugeMetricFamily("swarm_drone_builds_in_flight", "Builds dispatched to or running on each drone", labels=["drone"])
        for d in self.queries.fleet():
            drones.add_metric([d.name, d.arch], 1.0 if d.state == "online" else 0.0)
            slots.add_metric([d.name], d.slots or 0)
            busy.add_metric([d.name], d.in_flight)
        yield from (drones, slots, busy)


class UploadCounter:
    def __init__(self, registry: CollectorRegistry) -> None:
        self._bytes = Counter("swarm_upload_bytes", "Bytes accepted by kind", ["kind"], registry=registry)
        self._accepted = Counter("swarm_uploads_accepted", "Uploads accepted by kind", ["kind"], registry=registry)
        self._refused = Counter("swarm_uploads_refused", "Uploads refused by HTTP status", ["status"], registry=registry)

    def accepted(self, kind: str, size: int) -> None:
        self._accepted.labels(kind).inc()
        self._bytes.labels(kind).inc(size)

    def refused(self, status: int) -> None:
        self._refused.labels(str(status)).inc()


def registry_for(queries: Queries) -> tuple[CollectorRegistry, UploadCounter]:
    registry = CollectorRegistry()
    registry.register(RecordCollector(queries))
    return registry, UploadCounter(registry)
