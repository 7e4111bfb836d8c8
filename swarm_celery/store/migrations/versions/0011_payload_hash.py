"""what a drone runs, exactly: the digest of its build-swarm code (a deploy waits for the hello that names it)

Revision ID: 0011
Revises: 0010
Create Date: 2026-12-03 12:00:00
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op


revision = '0011'
down_revision = '0010'
branch_labels = None
depends_on = None


# ADD COLUMN in place (SQLite and Postgres both can): no table copy
def upgrade() -> None:
    op.add_column('drones', sa.Column('payload_hash', sa.String(length=64), nullable=False, server_default=''))


def downgrade() -> None:
    with op.batch_alter_table('drones') as batch:
        batch.drop_column('payload_hash')
