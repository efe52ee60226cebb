"""Account lifecycle: verified emails, single-use account tokens (verify, reset, "this wasn't me"),
known devices for new-sign-in alerts, sessions of a person with no organization, normalized emails.

Revision ID: 0014
Revises: 0013
Create Date: 2026-11-30
"""

import logging

from alembic import op
from sqlalchemy import text

from migrations import rls

revision = "0014"
down_revision = "0013"
branch_labels = None
depends_on = None

PURPOSES = "'verify_email', 'password_reset', 'not_me'"
log = logging.getLogger("alembic.runtime.migration")


def upgrade() -> None:
    app = rls.app_role()
    op.execute(f"""
    -- Null until the person follows the link sent to the address. Accounts that existed before this
    -- revision were acting already (inviting, paying): they are taken as verified rather than cut off.
    alter table users add column email_verified_at timestamptz;
    update users set email_verified_at = created_at;

    -- One row per emailed link. The link is a signed token naming this row (its `jti`); the row makes it
    -- single-use (`used_at`), lets a newer link replace an older one, and keeps only the token's SHA-256.
    create table account_tokens (
        id uuid primary key,
        user_id uuid not null references users (id) on delete cascade,
        purpose text not null check (purpose in ({PURPOSES})),
        -- The address a verify_email link proves (the current one, or the new one of a change of email).
        email text check (email = lower(email)),
        token_hash text not null,
        expires_at timestamptz not null,
        used_at timestamptz,
        created_at timestamptz not null default now()
    );
    create index account_tokens_user_idx on account_tokens (user_id, purpose) where used_at is null;

    -- Where a person has signed in from: a hash of (user agent family, /24 or /64 network). A sign-in from
    -- a pair not listed here emails the person.
    create table known_devices (
        user_id uuid not null references users (id) on delete cascade,
        fingerprint text not null,
        label text not null,
        first_seen_at timestamptz not null default now(),
        last_seen_at timestamptz not null default now(),
        primary key (user_id, fingerprint)
    );

    -- A person with no organization (removed from their last one) can still sign in, to create one or to
    -- accept an invitation: their session rows have no organization.
    alter table refresh_tokens alter column org_id drop not null;
    """)
    for table in ("account_tokens", "known_devices"):
        rls.enable(table)
        op.execute(f"create policy self on {table} using (user_id = {rls.CURRENT_USER}) "
                   f"with check (user_id = {rls.CURRENT_USER})")
        rls.system_access(table)
    # A person's own sessions in every organization (and with none): a password reset or "this wasn't me"
    # revokes them all in one statement. A row still needs the membership its foreign key names.
    op.execute(f"""
    create policy own_sessions on refresh_tokens
        using (user_id = {rls.CURRENT_USER}) with check (user_id = {rls.CURRENT_USER})
    """)
    op.execute(f"grant select, insert, update, delete on account_tokens, known_devices to {app}")
    _normalize_stored_emails()


def canonical_emails(rows: list[tuple[object, str]]) -> tuple[list[tuple[object, str]], list[tuple[object, str, str]]]:
    """For users `rows` of (id, email), oldest first: (the rewrites to make, the rows left as they are and why).

    A collision (two rows that are one mailbox, e.g. NFC and NFD spellings): an account already spelled
    canonically keeps the address, else the oldest takes it; the others keep their old spelling, cannot be
    signed in to by it any more (logins are normalized) and are reported for an operator to merge or delete.
    Addresses the new rules refuse outright (a display name) are left as they are and reported the same way.
    """
    from domain.accounts.normalize import normalize_email
    from domain.errors import InvalidInput

    taken = {email for _, email in rows}
    rewrites, left = [], []
    for user_id, email in rows:
        try:
            canonical = normalize_email(email)
        except InvalidInput:
            left.append((user_id, email, "not a valid address under the new rules"))
            continue
        if canonical == email:
            continue
        if canonical in taken:
            left.append((user_id, email, f"the same mailbox as an older account's {canonical!r}"))
            continue
        rewrites.append((user_id, canonical))
        taken.discard(email)
        taken.add(canonical)
    return rewrites, left


def _normalize_stored_emails() -> None:
    """Rewrite stored addresses to domain/accounts/normalize.py's spelling (NFC, IDNA, no trailing dot)."""
    from domain.accounts.normalize import normalize_email
    from domain.errors import InvalidInput

    bind = op.get_bind()
    bind.execute(text("select set_config('app.scope', 'system', true)"))
    rows = [(row.id, row.email) for row in bind.execute(text("select id, email from users order by created_at, id"))]
    rewrites, left = canonical_emails(rows)
    for user_id, canonical in rewrites:
        bind.execute(text("update users set email = :e where id = :i"), {"e": canonical, "i": user_id})
    for user_id, email, reason in left:
        log.warning("users.%s: %r left as it is: %s", user_id, email, reason)
    for invitation_id, email in bind.execute(text("select id, email from invitations where status = 'pending'")):
        try:
            canonical = normalize_email(email)
        except InvalidInput:
            continue
        if canonical != email:
            bind.execute(text("update invitations set email = :e where id = :i and not exists ("
                              "select 1 from invitations o where o.org_id = invitations.org_id "
                              "and o.email = :e and o.status = 'pending')"), {"e": canonical, "i": invitation_id})


def downgrade() -> None:
    op.execute("""
    drop policy own_sessions on refresh_tokens;
    delete from refresh_tokens where org_id is null;
    alter table refresh_tokens alter column org_id set not null;
    drop table known_devices, account_tokens;
    alter table users drop column email_verified_at;
    """)
