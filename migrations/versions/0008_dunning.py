"""Dunning: when an organization's invoice payment first failed, and when it was restricted for it.

Revision ID: 0008
Revises: 0007
Create Date: 2026-11-26
"""

from alembic import op

from migrations import rls

revision = "0008"
down_revision = "0007"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.execute("""
    alter table billing_customers
        add column payment_failed_at timestamptz,  -- the first failed invoice payment not yet made good
        add column restricted_at timestamptz;  -- set BILLING_GRACE_DAYS after that, cleared by a paid invoice
    create index billing_customers_payment_failed_idx on billing_customers (payment_failed_at)
        where payment_failed_at is not null and restricted_at is null;
    """)
    op.execute(f"grant update on billing_customers to {rls.app_role()}")


def downgrade() -> None:
    op.execute("alter table billing_customers drop column payment_failed_at, drop column restricted_at")
