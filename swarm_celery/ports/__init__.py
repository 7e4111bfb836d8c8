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
    DroneControls,
    DroneRoster,
    Inventory,
    MachineFiles,
    Pinger,
    PlanQueue,
    Publisher,
    RemoteFiles,
    RemoteShell,
    RequestBuilder,
    Resolver,
    TokenIssuer,
    TreeFiles,
)
from swarm_celery.ports.reads import RecordReader
from swarm_celery.ports.store import (
    AttemptContext,
    AuditStore,
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

__all__ = ["Alerter", "AttemptContext", "AuditStore", "Broker", "BrokerCensus", "BuildConfigs", "Clock", "CompletionStore", "ControlQueue", "ControlStore",
           "CoordinatorStore", "DispatchStore", "DroneControls", "DroneRoster", "EventLog", "ExplainStore", "Fencing", "Flags", "FleetStore",
           "HealthStore", "Inventory", "LeaseStore", "MachineFiles", "Pinger", "PlanQueue", "PlanStore", "ProfileStore", "Publisher",
           "RecordReader", "RemoteFiles", "RemoteShell", "RequestBuilder", "Resolver", "SessionEnd", "SessionStore", "TokenIssuer",
           "TreeFiles"]
