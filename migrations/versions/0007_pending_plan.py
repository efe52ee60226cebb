"""Subscriptions: a downgrade waiting for the end of the paid period.

Revision ID: 0007
Revises: 0006
Create Date: 2026-11-26
"""

from alembic import op

revision = "0007"
down_revision = "0006"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.execute("alter table subscriptions add column pending_plan text")
    # The job that applies due downgrades looks only at these rows.
    op.execute("create index subscriptions_pending_plan_idx on subscriptions (current_period_end) "
               "where pending_plan is not null")


def downgrade() -> None:
    op.execute("alter table subscriptions drop column pending_plan")
