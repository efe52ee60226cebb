"""Scheduled runs: one row per (job, period), claimed before the work.

periodiq has no lock: two schedulers, or one restarted within the minute,
send the same tick twice. The primary key makes the second claim a no-op.

Revision ID: 0002
Revises: 0001
Create Date: 2026-11-26
"""

from alembic import op

from migrations import rls

revision = "0002"
down_revision = "0001"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.execute("""
    create table scheduled_runs (
        job text not null,
        scheduled_for timestamptz not null,
        status text not null check (status in ('claimed', 'succeeded', 'failed')),
        attempts integer not null default 1,
        claimed_at timestamptz not null default now(),
        finished_at timestamptz,
        error text,
        primary key (job, scheduled_for)
    );
    -- "When did this job last succeed?" for catch-up.
    create index scheduled_runs_succeeded_idx on scheduled_runs (job, scheduled_for desc)
        where status = 'succeeded';
    """)
    # Belongs to no tenant: only system-scoped transactions (the scheduler's) see it.
    rls.enable("scheduled_runs")
    rls.system_access("scheduled_runs")
    op.execute(f"grant select, insert, update, delete on scheduled_runs to {rls.app_role()}")


def downgrade() -> None:
    op.execute("drop table scheduled_runs")
