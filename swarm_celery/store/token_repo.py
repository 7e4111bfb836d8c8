"""Drone API tokens: issued by an operator on the coordinator host, checked by the API; only hashes are stored."""

from __future__ import annotations

import hashlib
import secrets
import time

from sqlalchemy import Engine, delete, select
from sqlalchemy.orm import Session

from swarm_celery.domain.views import TokenView
from swarm_celery.store.models import DroneTokenRow
from swarm_celery.store.rows import rows_matched

TOKEN_PREFIX = "bsd_"  # build-swarm drone: recognisable in a config file or a leaked log


def token_hash(token: str) -> str:
    return hashlib.sha256(token.encode("utf-8", "surrogatepass")).hexdigest()


class DroneTokens:
    def __init__(self, engine: Engine) -> None:
        self.engine = engine

    def issue(self, drone: str) -> str:
        """A new token for ``drone`` (the old one stops working); the only time it is seen in clear."""
        token = TOKEN_PREFIX + secrets.token_urlsafe(32)
        with Session(self.engine) as db, db.begin():
            db.execute(delete(DroneTokenRow).where(DroneTokenRow.drone == drone))
            db.add(DroneTokenRow(drone=drone, token_sha256=token_hash(token), created_at=time.time()))
        return token

    def revoke(self, drone: str) -> bool:
        with Session(self.engine) as db, db.begin():
            return rows_matched(db.execute(delete(DroneTokenRow).where(DroneTokenRow.drone == drone))) > 0

    def drone_for(self, token: str) -> str | None:
        """The drone this token belongs to, or None."""
        if not token.startswith(TOKEN_PREFIX):
            return None
        with Session(self.engine) as db:
            return db.scalar(select(DroneTokenRow.drone).where(DroneTokenRow.token_sha256 == token_hash(token)))

    def list(self) -> list[TokenView]:
        with Session(self.engine) as db:
            rows = db.execute(select(DroneTokenRow.drone, DroneTokenRow.created_at).order_by(DroneTokenRow.drone)).all()
        return [TokenView(d, c) for d, c in rows]
