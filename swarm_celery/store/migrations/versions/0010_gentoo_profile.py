"""one meaning per name: the Gentoo profile of a session and of a drone is gentoo_profile

Revision ID: 0010
Revises: 0009
Create Date: 2026-12-03 09:00:00
"""

from __future__ import annotations

from alembic import op


revision = '0010'
down_revision = '0009'
branch_labels = None
depends_on = None


# RENAME COLUMN in place (SQLite 3.25+, Postgres): a batch copy of `sessions` would drop the old table, and with
# foreign keys on, every package, edge and attempt of every session would go with it (ON DELETE CASCADE)
def upgrade() -> None:
    for table in ('sessions', 'drones'):
        op.execute(f'ALTER TABLE {table} RENAME COLUMN profile TO gentoo_profile')


def downgrade() -> None:
    for table in ('sessions', 'drones'):
        op.execute(f'ALTER TABLE {table} RENAME COLUMN gentoo_profile TO profile')
