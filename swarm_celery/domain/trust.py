"""Who may send what: the coordinator's tasks and the drones' reports, when messages are signed.

With message signing on, every task arrives with the common name of the certificate that signed it
(tasks.signing). Plans, controls, dispatch wake-ups and beat's jobs come from the coordinator's own
certificate (held by the coordinator, beat, the API and the CLI); a drone's hello, goodbye, start and
completion reports come from that drone's certificate. Without signing anyone who can write to the
broker can send anything: docs/security.md says what that means and how to close it.
"""

from __future__ import annotations

COORDINATOR = "coordinator"
FROM_COORDINATOR = frozenset({"swarm.plan", "swarm.control", "swarm.dispatch", "swarm.reclaim", "swarm.breaker", "swarm.check_tree",
                              "swarm.probe_fleet", "swarm.audit_fleet", "swarm.build"})
FROM_DRONES = frozenset({"swarm.drone_hello", "swarm.drone_goodbye", "swarm.build_started", "swarm.build_finished"})


def refusal(task: str, signed_by: str, signing: bool, drone: str = "") -> str:
    """Why a message of ``task`` signed by ``signed_by`` (and naming ``drone``) is refused; "" when it is taken."""
    if not signing:
        return ""
    if not signed_by:
        return f"{task} arrived unsigned"
    if task in FROM_COORDINATOR and signed_by != COORDINATOR:
        return f"{task} signed by {signed_by!r}: only the coordinator's certificate may send it"
    if task in FROM_DRONES and signed_by != drone:
        return f"{task} names drone {drone!r} but was signed by {signed_by!r}: a drone reports for itself only"
    return ""
