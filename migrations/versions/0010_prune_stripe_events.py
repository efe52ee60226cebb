"""Handled Stripe events are deleted after STRIPE_EVENT_RETENTION_DAYS by the maintenance pool.

Revision ID: 0010
Revises: 0009
Create Date: 2026-11-26
"""

from alembic import op

from migrations import rls

revision = "0010"
down_revision = "0009"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.execute("create index stripe_events_handled_idx on stripe_events (received_at) where handled_at is not null")
    op.execute(f"grant delete on stripe_events to {rls.app_role()}")


def downgrade() -> None:
    op.execute(f"revoke delete on stripe_events from {rls.app_role()}")
    op.execute("drop index stripe_events_handled_idx")
