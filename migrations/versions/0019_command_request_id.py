"""Commands keep the request id of the edge request that accepted them (docs/decisions.md, 97).

Revision ID: 0019
Revises: 0018
Create Date: 2026-11-30
"""

from alembic import op

revision = "0019"
down_revision = "0018"
branch_labels = None
depends_on = None


def upgrade() -> None:
    # Nullable and without a default: adding it rewrites nothing, and commands from before have none.
    op.execute("alter table commands add column request_id text")


def downgrade() -> None:
    op.execute("alter table commands drop column request_id")
