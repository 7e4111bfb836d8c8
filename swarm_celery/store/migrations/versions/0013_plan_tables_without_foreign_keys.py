"""a plan's edges and gates without foreign keys: written once, in bulk, with the packages they join

Their foreign keys cost more than all the rest of saving a plan (a check per row, two or
three per row on Postgres); the rows are made in the plan's own transaction from the
package ids it has just inserted, and nothing deletes packages or sessions.

Revision ID: 0013
Revises: 0012
Create Date: 2026-12-03 17:10:00
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op


revision = '0013'
down_revision = '0012'
branch_labels = None
depends_on = None

POSTGRES_KEYS = (
    ('edges_child_id_fkey', 'edges', 'packages', 'child_id', 'id'),
    ('edges_parent_id_fkey', 'edges', 'packages', 'parent_id', 'id'),
    ('edges_session_id_fkey', 'edges', 'sessions', 'session_id', 'id'),
    ('gates_package_id_fkey', 'gates', 'packages', 'package_id', 'id'),
    ('gates_requires_id_fkey', 'gates', 'packages', 'requires_id', 'id'),
)


def _edges(keys: bool) -> sa.Table:
    fks = [sa.ForeignKeyConstraint(['child_id'], ['packages.id'], ondelete='CASCADE'),
           sa.ForeignKeyConstraint(['parent_id'], ['packages.id'], ondelete='CASCADE'),
           sa.ForeignKeyConstraint(['session_id'], ['sessions.id'], ondelete='CASCADE')] if keys else []
    return sa.Table('edges', sa.MetaData(),
                    sa.Column('id', sa.Integer(), autoincrement=True, nullable=False),
                    sa.Column('session_id', sa.String(length=32), nullable=False),
                    sa.Column('parent_id', sa.Integer(), nullable=False),
                    sa.Column('child_id', sa.Integer(), nullable=False),
                    sa.Column('kind', sa.String(length=16), nullable=False),
                    sa.Column('dropped', sa.Boolean(), nullable=False),
                    sa.Column('reason', sa.Text(), nullable=False),
                    sa.PrimaryKeyConstraint('id'), *fks,
                    sa.Index('ix_edges_child', 'child_id'), sa.Index('ix_edges_parent', 'parent_id'),
                    sa.Index('ix_edges_session_id', 'session_id'))


def _gates(keys: bool) -> sa.Table:
    fks = [sa.ForeignKeyConstraint(['package_id'], ['packages.id'], ondelete='CASCADE'),
           sa.ForeignKeyConstraint(['requires_id'], ['packages.id'], ondelete='CASCADE')] if keys else []
    return sa.Table('gates', sa.MetaData(),
                    sa.Column('package_id', sa.Integer(), nullable=False),
                    sa.Column('requires_id', sa.Integer(), nullable=False),
                    sa.PrimaryKeyConstraint('package_id', 'requires_id'), *fks,
                    sa.Index('ix_gates_requires', 'requires_id'))


def upgrade() -> None:
    if op.get_bind().dialect.name == 'postgresql':
        for name, table, *_ in POSTGRES_KEYS:
            op.drop_constraint(name, table, type_='foreignkey')
        return
    for table in (_edges(False), _gates(False)):  # SQLite: the table made again from its definition, rows copied
        with op.batch_alter_table(table.name, recreate='always', copy_from=table):
            pass


def downgrade() -> None:
    if op.get_bind().dialect.name == 'postgresql':
        for name, table, target, column, remote in POSTGRES_KEYS:
            op.create_foreign_key(name, table, target, [column], [remote], ondelete='CASCADE')
        return
    for table in (_edges(True), _gates(True)):
        with op.batch_alter_table(table.name, recreate='always', copy_from=table):
            pass
