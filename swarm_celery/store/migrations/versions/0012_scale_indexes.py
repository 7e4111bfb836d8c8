"""indexes for the hot paths at scale: ready packages by (session, state, pending), recent successes per drone and overall

Revision ID: 0012
Revises: 0011
Create Date: 2026-12-03 17:00:00
"""

from __future__ import annotations

from alembic import op


revision = '0012'
down_revision = '0011'
branch_labels = None
depends_on = None


# indexes only: no table copy on either backend
def upgrade() -> None:
    op.create_index('ix_packages_session_state_pending', 'packages', ['session_id', 'state', 'pending'], unique=False)
    op.drop_index('ix_packages_session_state', table_name='packages')
    op.create_index('ix_attempts_drone_outcome_finished', 'attempts', ['drone', 'outcome', 'finished_at'], unique=False)
    op.create_index('ix_attempts_outcome_finished', 'attempts', ['outcome', 'finished_at'], unique=False)


def downgrade() -> None:
    op.drop_index('ix_attempts_outcome_finished', table_name='attempts')
    op.drop_index('ix_attempts_drone_outcome_finished', table_name='attempts')
    op.create_index('ix_packages_session_state', 'packages', ['session_id', 'state'], unique=False)
    op.drop_index('ix_packages_session_state_pending', table_name='packages')
