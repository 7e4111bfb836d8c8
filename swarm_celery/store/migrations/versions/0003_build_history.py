"""build history imported from emerge.log files

Revision ID: 0003
Revises: 0002
Create Date: 2026-11-27 02:25:00
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op


revision = '0003'
down_revision = '0002'
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table('build_history',
    sa.Column('id', sa.Integer(), autoincrement=True, nullable=False),
    sa.Column('cpv', sa.String(length=255), nullable=False),
    sa.Column('package', sa.String(length=255), nullable=False),
    sa.Column('seconds', sa.Float(), nullable=False),
    sa.Column('started_at', sa.Float(), nullable=False),
    sa.Column('finished_at', sa.Float(), nullable=False),
    sa.Column('source', sa.String(length=255), nullable=False),
    sa.PrimaryKeyConstraint('id'),
    sa.UniqueConstraint('cpv', 'finished_at', 'source', name='uq_build_history')
    )
    with op.batch_alter_table('build_history', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_build_history_package'), ['package'], unique=False)


def downgrade() -> None:
    with op.batch_alter_table('build_history', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_build_history_package'))
    op.drop_table('build_history')
