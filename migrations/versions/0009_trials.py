"""Trials (when a trial ends, when we reminded of it) and the dunning reminder before a restriction.

Revision ID: 0009
Revises: 0008
Create Date: 2026-11-26
"""

from alembic import op

revision = "0009"
down_revision = "0008"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.execute("""
    alter table subscriptions
        add column trial_end timestamptz,  -- Stripe's, while (or since) the subscription was a trial
        add column trial_reminded_at timestamptz;  -- "your trial ends in N days" sent (once per subscription)
    create index subscriptions_trial_end_idx on subscriptions (trial_end)
        where status = 'trialing' and trial_reminded_at is null;
    alter table billing_customers
        add column payment_reminded_at timestamptz;  -- "payment due" sent during the current grace period
    """)


def downgrade() -> None:
    op.execute("""
    alter table subscriptions drop column trial_end, drop column trial_reminded_at;
    alter table billing_customers drop column payment_reminded_at;
    """)
