"""fleet health: probe rows per drone, the healing ladder and the stale-tree hold

Revision ID: 0007
Revises: 0006
Create Date: 2026-11-27 06:30:00
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op


revision = '0007'
down_revision = '0006'
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        'drone_probes',
        sa.Column('id', sa.Integer(), primary_key=True, autoincrement=True),
        sa.Column('drone', sa.String(128), nullable=False),
        sa.Column('ts', sa.Float(), nullable=False),
        sa.Column('answered', sa.Boolean(), nullable=True),
        sa.Column('reachable', sa.Boolean(), nullable=True),
        sa.Column('error', sa.Text(), nullable=False),
        sa.Column('load1', sa.Float(), nullable=True),
        sa.Column('load5', sa.Float(), nullable=True),
        sa.Column('load15', sa.Float(), nullable=True),
        sa.Column('mem_total_mb', sa.Integer(), nullable=True),
        sa.Column('mem_avail_mb', sa.Integer(), nullable=True),
        sa.Column('build_free_mb', sa.Integer(), nullable=True),
        sa.Column('pkgdir_free_mb', sa.Integer(), nullable=True),
        sa.Column('tree', sa.String(64), nullable=False),
        sa.Column('manager', sa.String(16), nullable=False),
        sa.Column('emerges', sa.Integer(), nullable=False),
        sa.Column('stuck', sa.Integer(), nullable=False),
        sa.Column('findings', sa.Text(), nullable=False),
        sa.Column('level', sa.Integer(), nullable=False),
    )
    op.create_index('ix_drone_probes_drone_ts', 'drone_probes', ['drone', 'ts'])
    op.create_table(
        'drone_health',
        sa.Column('drone', sa.String(128), primary_key=True),
        sa.Column('level', sa.Integer(), nullable=False),
        sa.Column('acted_at', sa.Float(), nullable=False),
        sa.Column('silent_since', sa.Float(), nullable=False),
        sa.Column('error', sa.Text(), nullable=False),
        sa.Column('findings', sa.Text(), nullable=False),
        sa.Column('tree_hold', sa.Text(), nullable=False),
    )


def downgrade() -> None:
    op.drop_table('drone_health')
    op.drop_index('ix_drone_probes_drone_ts', table_name='drone_probes')
    op.drop_table('drone_probes')
