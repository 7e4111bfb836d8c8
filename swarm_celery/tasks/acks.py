"""Acknowledging a batch of broker messages together: over Redis, one round trip for the whole batch.

kombu's Redis transport keeps every delivered message in an "unacked" hash and sorted set until it is
acknowledged, and acknowledges each message with its own pipeline: for a batch of 100 reports, 100 round
trips to Redis on the coordinator's one thread. :func:`acknowledge` sends the batch's removals in one
pipeline, then marks each message acknowledged as kombu's own ``ack`` does (the channel's QoS forgets the
delivery, the message's state is ``ACK``). Messages of any other transport (the filesystem broker) are
acknowledged one by one. An acknowledgement that fails is logged, as Celery logs one: the message comes
back after the visibility timeout and its report is recorded as a duplicate, so nothing is lost.
"""

from __future__ import annotations

import logging
from collections.abc import Sequence
from typing import Any

from kombu.transport import redis as kombu_redis
from kombu.transport.virtual import base as virtual

log = logging.getLogger(__name__)


def acknowledge(messages: Sequence[Any], errors: tuple[type[BaseException], ...]) -> None:
    """Acknowledge ``messages`` (kombu messages); ``errors``: the transport's errors, logged and not raised."""
    by_channel: dict[int, list[Any]] = {}
    for message in messages:
        by_channel.setdefault(id(message.channel), []).append(message)
    for group in by_channel.values():
        qos = getattr(group[0].channel, "qos", None)
        if len(group) > 1 and isinstance(qos, kombu_redis.QoS):
            _together(qos, group, errors)
        else:
            for message in group:
                message.ack_log_error(log, errors)


def _together(qos: kombu_redis.QoS, group: list[Any], errors: tuple[type[BaseException], ...]) -> None:
    try:
        with qos.pipe_or_acquire() as pipe:
            for message in group:
                qos._remove_from_indices(message.delivery_tag, pipe)  # type: ignore[no-untyped-call]
            pipe.execute()
    except errors as exc:
        log.critical("couldn't acknowledge %d messages: %r; they come back after the visibility timeout", len(group), exc)
        return
    for message in group:
        virtual.QoS.ack(qos, message.delivery_tag)  # type: ignore[no-untyped-call]  # what kombu's Redis QoS.ack does after its own pipeline
        message._state = "ACK"


__all__ = ["acknowledge"]
