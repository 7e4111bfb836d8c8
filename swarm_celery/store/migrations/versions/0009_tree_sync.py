"""the fleet doctor tells a drone with a stale tree to sync: when it last asked

Revision ID: 0009
Revises: 0008
Create Date: 2026-11-27 09:40:00
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op


revision = '0009'
down_revision = '0008'
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table('drone_health') as table:
        table.add_column(sa.Column('sync_asked_at', sa.Float(), server_default='0', nullable=False))
    with op.batch_alter_table('drone_probes') as table:
        table.add_column(sa.Column('sync', sa.String(16), server_default='', nullable=False))


def downgrade() -> None:
    with op.batch_alter_table('drone_probes') as table:
        table.drop_column('sync')
    with op.batch_alter_table('drone_health') as table:
        table.drop_column('sync_asked_at')
