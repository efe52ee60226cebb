"""Message usage: one counter row per organization and calendar month, with the quota notices sent.

Revision ID: 0006
Revises: 0005
Create Date: 2026-11-26
"""

from alembic import op

from migrations import rls

revision = "0006"
down_revision = "0005"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.execute("""
    create table message_usage (
        org_id uuid not null references organizations (id) on delete cascade,
        month date not null,
        messages integer not null,
        warned_at timestamptz,  -- billing.quota_warning sent (80 %)
        reached_at timestamptz,  -- billing.quota_reached sent (100 %)
        primary key (org_id, month)
    );
    """)
    rls.tenant_table("message_usage")
    op.execute(f"grant select, insert, update on message_usage to {rls.app_role()}")


def downgrade() -> None:
    op.execute("drop table message_usage")
