"""what a drone runs: portage tree timestamp, Gentoo profile, payload version

Revision ID: 0004
Revises: 0003
Create Date: 2026-11-27 03:50:00
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op


revision = '0004'
down_revision = '0003'
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table('drones') as batch:
        batch.add_column(sa.Column('tree_timestamp', sa.String(length=64), nullable=False, server_default=''))
        batch.add_column(sa.Column('profile', sa.String(length=255), nullable=False, server_default=''))
        batch.add_column(sa.Column('payload_version', sa.String(length=32), nullable=False, server_default=''))
        batch.add_column(sa.Column('builder', sa.String(length=16), nullable=False, server_default=''))


def downgrade() -> None:
    with op.batch_alter_table('drones') as batch:
        for column in ('builder', 'payload_version', 'profile', 'tree_timestamp'):
            batch.drop_column(column)
