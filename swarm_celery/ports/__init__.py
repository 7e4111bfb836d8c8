"""Ports: the Protocols the services need (DESIGN.md "Layout").

The services import only these and :mod:`swarm_celery.domain`; the composition root
(:mod:`swarm_celery.bootstrap`) hands them concrete adapters. The record is split by
role (:mod:`.store`): each service asks for exactly the part of the store it uses.
"""

from swarm_celery.ports.adapters import (
    Alerter,
    Broker,
    BrokerCensus,
    BuildConfigs,
    Clock,
    ControlQueue,
    MachineFiles,
    Pinger,
    PlanQueue,
    Publisher,
    RemoteShell,
    RequestBuilder,
    Resolver,
    TreeFiles,
)
from swarm_celery.ports.reads import RecordReader
from swarm_celery.ports.store import (
    AttemptContext,
    CompletionStore,
    ControlStore,
    CoordinatorStore,
    DispatchStore,
    EventLog,
    ExplainStore,
    Fencing,
    Flags,
    FleetStore,
    HealthStore,
    LeaseStore,
    PlanStore,
    ProfileStore,
    SessionEnd,
    SessionStore,
)

__all__ = ["Alerter", "AttemptContext", "Broker", "BrokerCensus", "BuildConfigs", "Clock", "CompletionStore", "ControlQueue", "ControlStore",
           "CoordinatorStore", "DispatchStore", "EventLog", "ExplainStore", "Fencing", "Flags", "FleetStore", "HealthStore",
           "LeaseStore", "MachineFiles", "Pinger", "PlanQueue", "PlanStore", "ProfileStore", "Publisher", "RecordReader", "RemoteShell",
           "RequestBuilder", "Resolver", "SessionEnd", "SessionStore", "TreeFiles"]
