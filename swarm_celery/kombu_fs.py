"""kombu's ``filesystem://`` transport with atomic publishing.

kombu 5.7's filesystem transport opens the message file in the queue folder, then locks
and writes it. A consumer polling that folder can move the file away in between and read
an empty message: the worker then dies in ``json.loads`` (seen here in a two-drone demo).
This channel writes each message under a temporary name in a sibling ``staging`` folder
and renames it into the queue folder, so a consumer only ever sees whole messages.
Selected by :func:`swarm_celery.app.create_app` for ``filesystem://`` broker URLs.
"""

from __future__ import annotations

import os
import uuid
from collections.abc import Callable
from pathlib import Path
from time import monotonic
from typing import Any, cast

from kombu.exceptions import ChannelError
from kombu.transport import filesystem
from kombu.utils import json as kombu_json

_dumps = cast(Callable[[Any], str], kombu_json.dumps)


class Channel(filesystem.Channel):
    def _put(self, queue: Any, message: Any, **kwargs: Any) -> None:  # type: ignore[override]  # kombu's own signature
        name = f"{round(monotonic() * 1000)}_{uuid.uuid4()}.{queue}.msg"
        out = Path(self.data_folder_out)
        staging = out.parent / f"{out.name}.staging"
        staging.mkdir(parents=True, exist_ok=True)
        tmp = staging / name
        try:
            with open(tmp, "wb") as handle:
                handle.write(_dumps(message).encode())  # kombu's JSON: it encodes dates, UUIDs, bytes
            os.replace(tmp, out / name)
        except OSError as exc:
            raise ChannelError(f"Cannot add file {name!r} to directory {out}") from exc


class Transport(filesystem.Transport):
    Channel = Channel
