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
from pathlib import Path
from time import monotonic
from typing import Any

from kombu.exceptions import ChannelError
from kombu.transport import filesystem
from kombu.utils.json import dumps


class Channel(filesystem.Channel):  # type: ignore[misc]
    def _put(self, queue: str, payload: Any, **kwargs: Any) -> None:
        name = f"{round(monotonic() * 1000)}_{uuid.uuid4()}.{queue}.msg"
        out = Path(self.data_folder_out)
        staging = out.parent / f"{out.name}.staging"
        staging.mkdir(parents=True, exist_ok=True)
        tmp = staging / name
        try:
            with open(tmp, "wb") as handle:
                handle.write(dumps(payload).encode())
            os.replace(tmp, out / name)
        except OSError as exc:
            raise ChannelError(f"Cannot add file {name!r} to directory {out}") from exc


class Transport(filesystem.Transport):  # type: ignore[misc]
    Channel = Channel
