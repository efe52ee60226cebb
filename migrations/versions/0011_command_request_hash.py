"""Commands remember a fingerprint of the request that created them, for Idempotency-Key replays.

Revision ID: 0011
Revises: 0010
Create Date: 2026-11-29
"""

from alembic import op

revision = "0011"
down_revision = "0010"
branch_labels = None
depends_on = None


def upgrade() -> None:
    # Null for commands accepted before: a retry of one of those is matched by its kind only.
    op.execute("alter table commands add column request_hash text")


def downgrade() -> None:
    op.execute("alter table commands drop column request_hash")
