"""Team: invitations and the activity log.

Revision ID: 0004
Revises: 0003
Create Date: 2026-11-27
"""

from alembic import op

from migrations import rls

revision = "0004"
down_revision = "0003"
branch_labels = None
depends_on = None

ROLES = "'owner', 'admin', 'member', 'viewer'"
# Set by domain/team/repository.py for the one statement that finds an
# invitation by its token before the organization is known (accept).
TOKEN_HASH = "(select nullif(current_setting('app.invitation_token_hash', true), ''))"


def upgrade() -> None:
    op.execute(f"""
    create table invitations (
        id uuid primary key,
        org_id uuid not null references organizations (id) on delete cascade,
        email text not null check (email = lower(email)),
        role text not null check (role in ({ROLES})),
        status text not null default 'pending' check (status in ('pending', 'accepted', 'revoked')),
        -- SHA-256 of the token, set by the worker that emails it; the token itself is never stored.
        token_hash text,
        invited_by uuid,
        expires_at timestamptz not null,
        accepted_by uuid,
        accepted_at timestamptz,
        revoked_at timestamptz,
        created_at timestamptz not null default now()
    );
    create unique index invitations_token_hash_key on invitations (token_hash) where token_hash is not null;
    -- One live invitation per address and organization: re-inviting revokes the old one first.
    create unique index invitations_pending_email_key on invitations (org_id, email) where status = 'pending';
    create index invitations_org_created_idx on invitations (org_id, created_at desc, id desc);

    -- Append-only: the application role may insert and read, never change or delete.
    create table activity_logs (
        id uuid primary key,
        org_id uuid not null references organizations (id) on delete cascade,
        actor_user_id uuid,
        action text not null,
        subject_user_id uuid,
        subject_email text,
        details jsonb not null default '{{}}',
        ip text,
        created_at timestamptz not null default now()
    );
    create index activity_logs_org_created_idx on activity_logs (org_id, created_at desc, id desc);
    """)
    rls.tenant_table("invitations")
    # Accepting knows only the token: the one invitation whose hash the
    # transaction presents is readable (like users' login_lookup); a 256-bit
    # secret cannot be guessed, and writes still need the organization's tenant.
    op.execute(f"create policy token_lookup on invitations for select using (token_hash = {TOKEN_HASH})")
    rls.tenant_table("activity_logs")
    app = rls.app_role()
    op.execute(f"grant select, insert, update, delete on invitations to {app}")
    op.execute(f"grant select, insert on activity_logs to {app}")


def downgrade() -> None:
    op.execute("drop table activity_logs, invitations")
