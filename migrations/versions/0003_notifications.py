"""Notifications, preferences, unread badges, agent errors and email deliveries.

Revision ID: 0003
Revises: 0002
Create Date: 2026-11-26
"""

from alembic import op

from migrations import rls

revision = "0003"
down_revision = "0002"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.execute("""
    create table notifications (
        id uuid primary key,
        org_id uuid not null,
        user_id uuid not null,
        type text not null,
        title text not null,
        body text not null,
        data jsonb not null default '{}',
        read_at timestamptz,
        created_at timestamptz not null default now(),
        foreign key (org_id, user_id) references memberships (org_id, user_id) on delete cascade
    );
    -- The inbox, newest first, and its unread filter.
    create index notifications_inbox_idx on notifications (org_id, user_id, created_at desc, id desc);
    create index notifications_unread_idx on notifications (org_id, user_id, created_at desc, id desc)
        where read_at is null;

    -- The badge: one counter per person, changed in the same transaction as the
    -- notifications it counts, so reading it is one row however many there are.
    create table notification_badges (
        org_id uuid not null,
        user_id uuid not null,
        unread integer not null default 0 check (unread >= 0),
        primary key (org_id, user_id),
        foreign key (org_id, user_id) references memberships (org_id, user_id) on delete cascade
    );

    -- Only what a person changed; defaults live in domain/notifications/types.py.
    create table notification_preferences (
        org_id uuid not null,
        user_id uuid not null,
        type text not null,
        channel text not null check (channel in ('in_app', 'email')),
        enabled boolean not null,
        updated_at timestamptz not null default now(),
        primary key (org_id, user_id, type, channel),
        foreign key (org_id, user_id) references memberships (org_id, user_id) on delete cascade
    );

    create table agent_errors (
        id uuid primary key,
        org_id uuid not null,
        agent_id uuid not null,
        code text not null,
        message text not null,
        created_at timestamptz not null default now(),
        foreign key (org_id, agent_id) references agents (org_id, id) on delete cascade
    );
    create index agent_errors_agent_idx on agent_errors (org_id, agent_id, created_at desc);

    -- One row per email we were asked to send, keyed by its dedupe key: a
    -- redelivered message finds the row 'sent' and sends nothing.
    create table email_deliveries (
        dedupe_key text primary key,
        recipient text not null,
        template text not null,
        status text not null check (status in ('sending', 'sent', 'failed')),
        attempts integer not null default 0,
        provider_id text,
        error text,
        created_at timestamptz not null default now(),
        sent_at timestamptz
    );
    """)
    # A person's notifications, badge and preferences are theirs alone, not the whole organization's.
    for table in ("notifications", "notification_badges", "notification_preferences"):
        rls.enable(table)
        op.execute(
            f"create policy own_rows on {table} "
            f"using (org_id = {rls.CURRENT_ORG} and user_id = {rls.CURRENT_USER}) "
            f"with check (org_id = {rls.CURRENT_ORG} and user_id = {rls.CURRENT_USER})")
        rls.system_access(table)
    rls.tenant_table("agent_errors")
    # Emails belong to no tenant (the sender's worker runs in the system scope).
    rls.enable("email_deliveries")
    rls.system_access("email_deliveries")
    app = rls.app_role()
    op.execute(f"grant select, insert, update, delete on notifications, notification_badges, "
               f"notification_preferences, agent_errors, email_deliveries to {app}")


def downgrade() -> None:
    op.execute("drop table email_deliveries, agent_errors, notification_preferences, notification_badges, "
               "notifications")
