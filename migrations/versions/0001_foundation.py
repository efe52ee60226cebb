"""Foundation: organizations, users, memberships, sessions, agents, conversations, messages, commands.

Revision ID: 0001
Revises:
Create Date: 2026-11-26
"""

from alembic import op

from migrations import rls

revision = "0001"
down_revision = None
branch_labels = None
depends_on = None

ROLES = "'owner', 'admin', 'member', 'viewer'"


def upgrade() -> None:
    app = rls.app_role()
    op.execute(f"""
    create table organizations (
        id uuid primary key,
        name text not null check (length(name) between 1 and 200),
        created_at timestamptz not null default now()
    );

    create table users (
        id uuid primary key,
        email text not null check (email = lower(email)),
        name text not null,
        password_hash text not null,
        created_at timestamptz not null default now()
    );
    create unique index users_email_key on users (email);

    create table memberships (
        org_id uuid not null references organizations (id) on delete cascade,
        user_id uuid not null references users (id) on delete cascade,
        role text not null check (role in ({ROLES})),
        created_at timestamptz not null default now(),
        primary key (org_id, user_id)
    );
    create index memberships_user_id_idx on memberships (user_id);

    -- One row per refresh token ever issued; a family is one login's chain of
    -- rotations, so reuse of an old token can revoke the whole chain.
    create table refresh_tokens (
        id uuid primary key,
        family_id uuid not null,
        org_id uuid not null,
        user_id uuid not null,
        expires_at timestamptz not null,
        used_at timestamptz,
        revoked_at timestamptz,
        created_at timestamptz not null default now(),
        foreign key (org_id, user_id) references memberships (org_id, user_id) on delete cascade
    );
    create index refresh_tokens_org_id_idx on refresh_tokens (org_id);
    create index refresh_tokens_family_id_idx on refresh_tokens (family_id);
    create index refresh_tokens_user_idx on refresh_tokens (org_id, user_id) where revoked_at is null;

    create table agents (
        id uuid primary key,
        org_id uuid not null references organizations (id) on delete cascade,
        name text not null,
        description text not null default '',
        model text not null,
        instructions text not null default '',
        status text not null default 'draft' check (status in ('draft', 'deploying', 'deployed', 'failed')),
        deployed_version integer,
        version integer not null default 1,
        created_at timestamptz not null default now(),
        updated_at timestamptz not null default now(),
        unique (org_id, id)
    );
    create index agents_org_created_idx on agents (org_id, created_at desc, id desc);

    create table conversations (
        id uuid primary key,
        org_id uuid not null,
        agent_id uuid not null,
        title text not null default '',
        created_at timestamptz not null default now(),
        -- Composite keys: a row can only point at a parent of its own organization,
        -- because foreign-key checks do not go through row-level security.
        foreign key (org_id, agent_id) references agents (org_id, id) on delete cascade,
        unique (org_id, id)
    );
    create index conversations_agent_idx on conversations (org_id, agent_id, created_at desc, id desc);

    create table messages (
        id uuid primary key,
        org_id uuid not null,
        conversation_id uuid not null,
        role text not null check (role in ('user', 'assistant', 'system')),
        content text not null,
        created_at timestamptz not null default now(),
        foreign key (org_id, conversation_id) references conversations (org_id, id) on delete cascade
    );
    create index messages_conversation_idx on messages (org_id, conversation_id, created_at, id);

    create table commands (
        id uuid primary key,
        org_id uuid not null references organizations (id) on delete cascade,
        user_id uuid,
        kind text not null,
        status text not null default 'queued' check (status in ('queued', 'running', 'succeeded', 'failed')),
        -- Where its work is sent, so the sweeper can re-send it without a registry.
        queue text not null,
        actor text not null,
        payload jsonb not null default '{{}}',
        result jsonb,
        error text,
        attempts integer not null default 0,
        idempotency_key text,
        created_at timestamptz not null default now(),
        updated_at timestamptz not null default now(),
        started_at timestamptz,
        finished_at timestamptz
    );
    create index commands_org_created_idx on commands (org_id, created_at desc);
    create unique index commands_idempotency_key on commands (org_id, user_id, idempotency_key)
        where idempotency_key is not null;
    -- The sweeper's scan: only unfinished commands, oldest first.
    create index commands_unfinished_idx on commands (updated_at) where status in ('queued', 'running');
    """)

    for table in ("refresh_tokens", "agents", "conversations", "messages", "commands"):
        rls.tenant_table(table)
    rls.tenant_table("organizations", column="id")

    # A person sees their own memberships in every organization (to log in and
    # switch organizations) and everyone's in the current one; writes stay in
    # the current organization.
    rls.enable("memberships")
    op.execute(f"""
    create policy own_memberships on memberships for select using (user_id = {rls.CURRENT_USER});
    create policy tenant_isolation on memberships
        using (org_id = {rls.CURRENT_ORG}) with check (org_id = {rls.CURRENT_ORG});
    """)
    rls.system_access("memberships")

    # Users are global identities: visible to themselves, to the members of an
    # organization they belong to, and to a login looking up exactly one email.
    rls.enable("users")
    op.execute(f"""
    create policy self on users using (id = {rls.CURRENT_USER}) with check (id = {rls.CURRENT_USER});
    create policy login_lookup on users for select using (email = {rls.LOGIN_EMAIL});
    create policy colleagues on users for select using (
        exists (select 1 from memberships m where m.user_id = users.id and m.org_id = {rls.CURRENT_ORG})
    );
    """)
    rls.system_access("users")

    op.execute(f"grant usage on schema public to {app}")
    op.execute(f"grant select, insert, update, delete on all tables in schema public to {app}")
    op.execute(f"revoke all on alembic_version from {app}")


def downgrade() -> None:
    op.execute("""
    drop table if exists commands, messages, conversations, agents, refresh_tokens,
        memberships, users, organizations cascade;
    """)
