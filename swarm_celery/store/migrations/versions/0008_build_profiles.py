"""build profiles, tree snapshots, binary-package identity of each planned package

Revision ID: 0008
Revises: 0007
Create Date: 2026-11-27 06:30:00
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op


revision = '0008'
down_revision = '0007'
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        'build_profiles',
        sa.Column('name', sa.String(64), primary_key=True),
        sa.Column('mode', sa.String(16), nullable=False),
        sa.Column('arch', sa.String(32), nullable=False),
        sa.Column('body', sa.Text(), nullable=False),
        sa.Column('auto_rebuild', sa.Boolean(), server_default=sa.false(), nullable=False),
        sa.Column('created_at', sa.Float(), nullable=False),
        sa.Column('updated_at', sa.Float(), nullable=False),
    )
    op.create_table(
        'snapshots',
        sa.Column('id', sa.String(16), primary_key=True),
        sa.Column('taken_at', sa.Float(), nullable=False),
        sa.Column('tree', sa.Text(), nullable=False),
        sa.Column('fingerprint', sa.String(64), nullable=False),
        sa.Column('sha256', sa.String(64), nullable=False),
        sa.Column('path', sa.Text(), nullable=False),
        sa.Column('size', sa.BigInteger(), nullable=False),
        sa.Column('files', sa.Integer(), nullable=False),
        sa.Column('reason', sa.Text(), server_default='', nullable=False),
    )
    op.create_index('ix_snapshots_tree_taken', 'snapshots', ['tree', 'taken_at'])
    with op.batch_alter_table('sessions') as batch:
        batch.add_column(sa.Column('build_profile', sa.String(64), server_default='', nullable=False))
        batch.add_column(sa.Column('reuse', sa.Boolean(), server_default=sa.false(), nullable=False))
    with op.batch_alter_table('packages') as batch:
        batch.add_column(sa.Column('identity', sa.String(64), server_default='', nullable=False))
        batch.add_column(sa.Column('slot_deps', sa.Text(), server_default='', nullable=False))
        batch.add_column(sa.Column('change', sa.Text(), server_default='', nullable=False))


def downgrade() -> None:
    with op.batch_alter_table('packages') as batch:
        batch.drop_column('change')
        batch.drop_column('slot_deps')
        batch.drop_column('identity')
    with op.batch_alter_table('sessions') as batch:
        batch.drop_column('reuse')
        batch.drop_column('build_profile')
    op.drop_index('ix_snapshots_tree_taken', table_name='snapshots')
    op.drop_table('snapshots')
    op.drop_table('build_profiles')
