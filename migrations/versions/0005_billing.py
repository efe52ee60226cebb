"""Billing: Stripe customers, subscriptions, invoices and received webhook events.

Revision ID: 0005
Revises: 0004
Create Date: 2026-11-28
"""

from alembic import op

from migrations import rls

revision = "0005"
down_revision = "0004"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.execute("""
    -- Written (and committed) the moment Stripe returns the customer, before
    -- anything else can fail: a retry finds it here and never creates a second.
    create table billing_customers (
        org_id uuid primary key references organizations (id) on delete cascade,
        stripe_customer_id text not null unique,
        created_at timestamptz not null default now()
    );

    -- Our copy of Stripe's subscriptions, refreshed from Stripe on every webhook.
    create table subscriptions (
        id uuid primary key,
        org_id uuid not null references organizations (id) on delete cascade,
        stripe_subscription_id text not null unique,
        stripe_customer_id text not null,
        plan text not null,
        status text not null,
        quantity integer not null default 1,
        current_period_end timestamptz,
        cancel_at_period_end boolean not null default false,
        created_at timestamptz not null default now(),
        updated_at timestamptz not null default now()
    );
    create index subscriptions_org_idx on subscriptions (org_id, created_at desc);

    create table invoices (
        id uuid primary key,
        org_id uuid not null references organizations (id) on delete cascade,
        stripe_invoice_id text not null unique,
        stripe_subscription_id text,
        status text not null,
        amount_due integer not null,
        amount_paid integer not null,
        currency text not null,
        number text,
        hosted_invoice_url text,
        period_start timestamptz,
        period_end timestamptz,
        issued_at timestamptz not null,
        paid_at timestamptz,
        created_at timestamptz not null default now(),
        updated_at timestamptz not null default now()
    );
    create index invoices_org_created_idx on invoices (org_id, created_at desc, id desc);

    -- Every webhook event received, once (its Stripe id is the key). No tenant
    -- is known when it arrives: only system-scoped transactions see it.
    create table stripe_events (
        id text primary key,
        type text not null,
        payload jsonb not null,
        received_at timestamptz not null default now(),
        handled_at timestamptz,
        attempts integer not null default 0,
        error text
    );
    create index stripe_events_unhandled_idx on stripe_events (received_at) where handled_at is null;
    """)
    for table in ("billing_customers", "subscriptions", "invoices"):
        rls.tenant_table(table)
    rls.enable("stripe_events")
    rls.system_access("stripe_events")
    app = rls.app_role()
    op.execute(f"grant select, insert on billing_customers to {app}")
    op.execute(f"grant select, insert, update on subscriptions, invoices, stripe_events to {app}")


def downgrade() -> None:
    op.execute("drop table stripe_events, invoices, subscriptions, billing_customers")
