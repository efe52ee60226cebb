"""Admin platform: admin users, sessions, TOTP, recovery codes, the hash-chained audit log,
admin notes, organization suspension and overrides; support tickets with their messages.

Revision ID: 0013
Revises: 0012
Create Date: 2026-12-01
"""

from alembic import op

from migrations import rls

revision = "0013"
down_revision = "0012"
branch_labels = None
depends_on = None

ADMIN_ROLES = "'support', 'billing', 'superadmin'"
TICKET_STATUSES = "'open', 'pending', 'resolved', 'closed'"
PRIORITIES = "'low', 'normal', 'high', 'urgent'"

# The content one audit row's hash covers, in a fixed order, each column as text ('' for null), joined by
# the unit separator; `objecta admin verify-audit` recomputes the same string in Python (domain/admin/audit.py).
AUDIT_CONTENT = """concat_ws(chr(31), r.seq::text, r.id::text,
    to_char(r.created_at at time zone 'UTC', 'YYYY-MM-DD"T"HH24:MI:SS.US"Z"'),
    coalesce(r.admin_id::text, ''), coalesce(r.admin_email, ''), r.action, coalesce(r.resource_type, ''),
    coalesce(r.resource_id, ''), coalesce(r.org_id::text, ''), coalesce(r.ip, ''), coalesce(r.user_agent, ''),
    coalesce(r.request_id, ''), r.outcome, coalesce(r.status_code::text, ''), r.details::text, r.prev_hash)"""


def upgrade() -> None:
    app = rls.app_role()
    op.execute(f"""
    -- Suspension and admin-granted extras live on the organization itself: the tenant guard reads
    -- suspended_at in the query that already checks the membership (no extra round trip).
    alter table organizations
        add column suspended_at timestamptz,
        add column suspend_reason text,
        add column extra_seats integer not null default 0 check (extra_seats between 0 and 100000),
        add column extra_agents integer not null default 0 check (extra_agents between 0 and 100000);

    create table admin_users (
        id uuid primary key,
        email text not null check (email = lower(email)),
        name text not null default '',
        role text not null check (role in ({ADMIN_ROLES})),
        password_hash text not null,
        totp_secret text not null,
        disabled_at timestamptz,
        last_login_at timestamptz,
        created_at timestamptz not null default now()
    );
    create unique index admin_users_email_key on admin_users (email);

    -- One row per admin login (after MFA). The refresh token names `refresh_id`; a rotated-away id coming
    -- back means the token was copied, and the session is revoked.
    create table admin_sessions (
        id uuid primary key,
        admin_id uuid not null references admin_users (id) on delete cascade,
        refresh_id uuid not null,
        ip text,
        user_agent text,
        expires_at timestamptz not null,
        last_used_at timestamptz not null default now(),
        revoked_at timestamptz,
        created_at timestamptz not null default now()
    );
    create index admin_sessions_admin_idx on admin_sessions (admin_id, created_at desc);

    create table admin_recovery_codes (
        id uuid primary key,
        admin_id uuid not null references admin_users (id) on delete cascade,
        code_hash text not null,  -- SHA-256 of a 128-bit random code: not guessable, so no slow hash needed
        used_at timestamptz,
        created_at timestamptz not null default now()
    );
    create unique index admin_recovery_codes_hash_key on admin_recovery_codes (code_hash);

    -- The last TOTP time step accepted per admin: a code is good once (its step must be newer).
    create table admin_totp_uses (
        admin_id uuid primary key references admin_users (id) on delete cascade,
        last_step bigint not null
    );

    create table admin_notes (
        id uuid primary key,
        org_id uuid not null references organizations (id) on delete cascade,
        admin_id uuid not null references admin_users (id),
        body text not null,
        created_at timestamptz not null default now()
    );
    create index admin_notes_org_id_idx on admin_notes (org_id, created_at desc);

    -- Append-only and hash-chained: `seq` and `hash` are set by the insert trigger under a lock, so the
    -- chain is one line; nobody may update or delete (grants and a trigger).
    create table admin_audit_logs (
        seq bigint primary key,
        id uuid not null unique,
        created_at timestamptz not null default now(),
        admin_id uuid,
        admin_email text,
        action text not null,
        resource_type text,
        resource_id text,
        org_id uuid,
        ip text,
        user_agent text,
        request_id text,
        outcome text not null,
        status_code integer,
        details jsonb not null default '{{}}',
        prev_hash text not null,
        hash text not null
    );
    create index admin_audit_logs_org_id_idx on admin_audit_logs (org_id, seq desc);
    create index admin_audit_logs_admin_idx on admin_audit_logs (admin_id, seq desc);
    create index admin_audit_logs_created_idx on admin_audit_logs (created_at);

    create function admin_audit_chain() returns trigger language plpgsql as $$
    declare
        last record;
        r admin_audit_logs%rowtype;
    begin
        -- One writer at a time until commit: every row links to the one committed before it.
        perform pg_advisory_xact_lock(hashtext('admin_audit_logs'));
        select seq, hash into last from admin_audit_logs order by seq desc limit 1;
        new.seq := coalesce(last.seq, 0) + 1;
        new.prev_hash := coalesce(last.hash, repeat('0', 64));
        new.created_at := coalesce(new.created_at, now());
        r := new;
        new.hash := encode(sha256(convert_to({AUDIT_CONTENT}, 'UTF8')), 'hex');
        return new;
    end $$;
    create trigger admin_audit_chain before insert on admin_audit_logs
        for each row execute function admin_audit_chain();

    create function admin_audit_immutable() returns trigger language plpgsql as $$
    begin
        raise exception 'admin_audit_logs is append-only (% refused)', tg_op using errcode = 'insufficient_privilege';
    end $$;
    create trigger admin_audit_immutable before update or delete on admin_audit_logs
        for each row execute function admin_audit_immutable();
    create trigger admin_audit_no_truncate before truncate on admin_audit_logs
        for each statement execute function admin_audit_immutable();

    create table support_tickets (
        id uuid primary key,
        org_id uuid not null references organizations (id) on delete cascade,
        created_by uuid not null,
        subject text not null check (length(subject) between 1 and 200),
        status text not null default 'open' check (status in ({TICKET_STATUSES})),
        priority text not null default 'normal' check (priority in ({PRIORITIES})),
        assignee_id uuid references admin_users (id),
        -- Copied when assigned: a customer's reply emails the assignee from the tenant's transaction,
        -- which may not read admin_users.
        assignee_email text,
        created_at timestamptz not null default now(),
        updated_at timestamptz not null default now(),
        unique (org_id, id)
    );
    create index support_tickets_org_created_idx on support_tickets (org_id, created_at desc, id desc);
    -- The admins' queue: unfinished tickets, oldest first.
    create index support_tickets_queue_idx on support_tickets (created_at, id) where status in ('open', 'pending');

    create table ticket_messages (
        id uuid primary key,
        org_id uuid not null,
        ticket_id uuid not null,
        author_user_id uuid,
        author_admin_id uuid references admin_users (id),
        body text not null check (length(body) between 1 and 20000),
        internal boolean not null default false,
        created_at timestamptz not null default now(),
        check ((author_user_id is null) <> (author_admin_id is null)),
        check (not internal or author_admin_id is not null),
        foreign key (org_id, ticket_id) references support_tickets (org_id, id) on delete cascade
    );
    create index ticket_messages_org_id_idx on ticket_messages (org_id, ticket_id, created_at, id);
    """)
    # The admin realm's own tables belong to no tenant: only system-scoped transactions see them.
    for table in ("admin_users", "admin_sessions", "admin_recovery_codes", "admin_totp_uses", "admin_notes",
                  "admin_audit_logs"):
        rls.enable(table)
        rls.system_access(table)
    rls.tenant_table("support_tickets")
    # Internal notes are the database's secret: a tenant transaction neither reads nor writes them.
    rls.enable("ticket_messages")
    op.execute(f"""
    create policy tenant_isolation on ticket_messages
        using (org_id = {rls.CURRENT_ORG} and not internal)
        with check (org_id = {rls.CURRENT_ORG} and not internal)
    """)
    rls.system_access("ticket_messages")
    op.execute(f"grant select, insert, update, delete on admin_users, admin_sessions, admin_recovery_codes, "
               f"admin_totp_uses, support_tickets to {app}")
    op.execute(f"grant select, insert on admin_notes, ticket_messages to {app}")
    op.execute(f"revoke all on admin_audit_logs from {app}")
    op.execute(f"grant select, insert on admin_audit_logs to {app}")


def downgrade() -> None:
    op.execute("""
    drop table ticket_messages, support_tickets, admin_audit_logs, admin_notes, admin_totp_uses,
        admin_recovery_codes, admin_sessions, admin_users;
    drop function admin_audit_chain(), admin_audit_immutable();
    alter table organizations drop column suspended_at, drop column suspend_reason, drop column extra_seats,
        drop column extra_agents;
    """)
