"""/metrics in Prometheus text format: the record's gauges, counters and histograms (read at scrape time) and the API's own counters.

Everything about builds is computed from the record when Prometheus scrapes (counters are
counts of rows, so a restart loses nothing); the coordinator's time per batch of reports is the
histogram it keeps in the record (services.timings). deploy/grafana/ holds a dashboard of them.
"""

from __future__ import annotations

from collections.abc import Iterator

from prometheus_client import CollectorRegistry, Counter
from prometheus_client.core import CounterMetricFamily, GaugeMetricFamily, HistogramMetricFamily, Metric
from prometheus_client.registry import Collector

from swarm_celery.domain.board import RecordMetrics
from swarm_celery.domain.histogram import Histogram
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
        fleet = self.queries.fleet()
        for d in fleet:
            drones.add_metric([d.name, d.arch], 1.0 if d.state == "online" else 0.0)
            slots.add_metric([d.name], d.slots or 0)
            busy.add_metric([d.name], d.in_flight)
        yield from (drones, slots, busy)
        yield GaugeMetricFamily("swarm_paused", "1 while the whole swarm is paused (`control pause`)", value=float(self.queries.swarm_paused()))
        yield from record_metrics(self.queries.record_metrics(), {d.name for d in fleet}, {d.arch for d in fleet if d.arch})


def record_metrics(found: RecordMetrics, drones: set[str], arches: set[str]) -> Iterator[Metric]:
    """The record's metrics; every known drone and arch has its series (0 when idle), so a dashboard shows 0, not no data."""
    depth = GaugeMetricFamily("swarm_queue_depth", "Packages of running sessions ready for a drone (every build dependency "
                              "published) or dispatched and not started, per arch", labels=["arch", "stage"])
    for arch in sorted(arches | {a for a, _ in found.queue_depth}):
        for stage in ("ready", "dispatched"):
            depth.add_metric([arch, stage], found.queue_depth.get((arch, stage), 0))
    running = GaugeMetricFamily("swarm_drone_builds_running", "Builds started and not finished, per drone", labels=["drone"])
    for drone in sorted(drones | set(found.running)):
        running.add_metric([drone], found.running.get(drone, 0))
    failures = CounterMetricFamily("swarm_build_failures", "Failed builds by failure class", labels=["class"])
    for kind, count in sorted(found.failures.items()):
        failures.add_metric([kind], count)
    yield from (depth, running, failures)
    yield CounterMetricFamily("swarm_reclaims", "Attempts taken back (expired lease, silent drone, lost in the broker)", value=found.reclaims)
    yield CounterMetricFamily("swarm_stale_reports", "Reports for attempts no longer current, ignored (fencing)", value=found.stale_reports)
    yield GaugeMetricFamily("swarm_drones_grounded", "Drones grounded by the circuit breaker now", value=found.grounded)
    yield _histograms("swarm_build_duration_seconds", "Wall seconds of each build on its drone, by class (success or the failure "
                      "class)", "class", found.build_seconds)
    yield _histograms("swarm_coordinator_batch_seconds", "Seconds the coordinator takes per batch of drones' reports", "kind",
                      found.coordinator)
    yield _histograms("swarm_publish_latency_seconds", "Seconds from a build's end on its drone to its package in the binhost",
                      None, {"": found.publish_latency})


def _histograms(name: str, documentation: str, label: str | None, found: dict[str, Histogram]) -> HistogramMetricFamily:
    family = HistogramMetricFamily(name, documentation, labels=[label] if label else [])
    for value, hist in sorted(found.items()):
        family.add_metric([value] if label else [], hist.cumulative(), sum_value=hist.total)
    return family


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
