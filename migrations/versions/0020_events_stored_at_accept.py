"""Event batches are stored by the accepting transaction: no durable copy (docs/decisions.md, 124).

The batch row keeps what was newly stored (`counts`) until the events worker has
counted it; `events` stays only for batches written by an edge from before this
revision (a rolling upgrade), which the worker still expands.

Revision ID: 0020
Revises: 0019
Create Date: 2026-11-30
"""

from alembic import op

revision = "0020"
down_revision = "0019"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.execute("alter table event_batches alter column events drop not null")


def downgrade() -> None:
    # Batches stored at accept carry no copy: an older worker finds them ingested and only counts them.
    op.execute("update event_batches set events = '[]' where events is null")
    op.execute("alter table event_batches alter column events set not null")
