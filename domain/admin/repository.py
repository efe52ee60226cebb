"""All SQL of the admin realm. Every statement runs in a system-scoped transaction
(`Database.transaction(system=True)`): the admin tables are visible to nothing else."""

from __future__ import annotations

import json
import uuid
from datetime import datetime
from typing import Any

from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncSession

from domain.admin.models import AdminSession, AdminUser, AuditEntry, AuditRow

_ADMIN = "id, email, name, role, password_hash, totp_secret, disabled_at, created_at"


async def insert_admin(session: AsyncSession, admin: AdminUser) -> bool:
    """False if an admin with that email exists."""
    row = await session.execute(text(f"""
        insert into admin_users ({_ADMIN}) values (:id, :email, :name, :role, :password_hash, :totp_secret,
            :disabled_at, :created_at) on conflict (email) do nothing returning id
    """), admin.__dict__)
    return row.first() is not None


async def admin_by_email(session: AsyncSession, email: str) -> AdminUser | None:
    row = (await session.execute(text(f"select {_ADMIN} from admin_users where email = :e"), {"e": email})).first()
    return AdminUser(*row) if row else None


async def admin_by_id(session: AsyncSession, admin_id: uuid.UUID) -> AdminUser | None:
    row = (await session.execute(text(f"select {_ADMIN} from admin_users where id = :i"), {"i": admin_id})).first()
    return AdminUser(*row) if row else None


async def set_disabled(session: AsyncSession, email: str, disabled: bool) -> bool:
    result = await session.execute(text(
        "update admin_users set disabled_at = case when :d then coalesce(disabled_at, now()) end where email = :e"),
        {"d": disabled, "e": email})
    return result.rowcount == 1


async def live_admin(session: AsyncSession, admin_id: uuid.UUID, session_id: uuid.UUID) -> tuple[str, str] | None:
    """(email, role) if the admin is enabled and this session is neither revoked nor expired; one query."""
    row = await session.execute(text("""
        update admin_sessions s set last_used_at = now()
        from admin_users a
        where s.id = :sid and s.admin_id = :aid and a.id = s.admin_id and s.revoked_at is null
          and s.expires_at > now() and a.disabled_at is null
        returning a.email, a.role
    """), {"sid": session_id, "aid": admin_id})
    found = row.first()
    return (found[0], found[1]) if found else None


async def use_totp_step(session: AsyncSession, admin_id: uuid.UUID, step: int) -> bool:
    """Record `step` as used; False if it (or a later one) was used already: the replay refusal."""
    row = await session.execute(text("""
        insert into admin_totp_uses (admin_id, last_step) values (:a, :s)
        on conflict (admin_id) do update set last_step = excluded.last_step
            where admin_totp_uses.last_step < excluded.last_step
        returning last_step
    """), {"a": admin_id, "s": step})
    return row.first() is not None


async def set_totp_secret(session: AsyncSession, admin_id: uuid.UUID, secret: str) -> None:
    """A new authenticator secret; the replay guard starts over with it (no step of it was ever used)."""
    await session.execute(text("update admin_users set totp_secret = :s where id = :a"), {"a": admin_id, "s": secret})
    await session.execute(text("delete from admin_totp_uses where admin_id = :a"), {"a": admin_id})


async def revoke_all_sessions(session: AsyncSession, admin_id: uuid.UUID) -> int:
    result = await session.execute(text(
        "update admin_sessions set revoked_at = now() where admin_id = :a and revoked_at is null"), {"a": admin_id})
    return result.rowcount


async def add_recovery_codes(session: AsyncSession, admin_id: uuid.UUID, hashes: list[str]) -> None:
    await session.execute(text("delete from admin_recovery_codes where admin_id = :a"), {"a": admin_id})
    for code_hash in hashes:
        await session.execute(text(
            "insert into admin_recovery_codes (id, admin_id, code_hash) values (:i, :a, :h)"),
            {"i": uuid.uuid4(), "a": admin_id, "h": code_hash})


async def use_recovery_code(session: AsyncSession, admin_id: uuid.UUID, code_hash: str) -> bool:
    row = await session.execute(text("""
        update admin_recovery_codes set used_at = now()
        where admin_id = :a and code_hash = :h and used_at is null returning id
    """), {"a": admin_id, "h": code_hash})
    return row.first() is not None


async def open_session(session: AsyncSession, admin_id: uuid.UUID, refresh_id: uuid.UUID, *, ip: str | None,
                       user_agent: str | None, expires_at: datetime) -> uuid.UUID:
    session_id = uuid.uuid4()
    await session.execute(text("""
        insert into admin_sessions (id, admin_id, refresh_id, ip, user_agent, expires_at)
        values (:i, :a, :r, :ip, :ua, :exp);
    """), {"i": session_id, "a": admin_id, "r": refresh_id, "ip": ip, "ua": user_agent, "exp": expires_at})
    await session.execute(text("update admin_users set last_login_at = now() where id = :a"), {"a": admin_id})
    return session_id


async def rotate_refresh(session: AsyncSession, session_id: uuid.UUID, admin_id: uuid.UUID, presented: uuid.UUID,
                         new_id: uuid.UUID, expires_at: datetime) -> str:
    """'rotated', 'reused' (an older refresh id: the session is revoked) or 'ended'."""
    row = (await session.execute(text("""
        select s.refresh_id, s.revoked_at is null and s.expires_at > now() and a.disabled_at is null
        from admin_sessions s join admin_users a on a.id = s.admin_id
        where s.id = :s and s.admin_id = :a for update of s
    """), {"s": session_id, "a": admin_id})).first()
    if row is None or not row[1]:
        return "ended"
    if row[0] != presented:
        await revoke_session(session, admin_id, session_id)
        return "reused"
    await session.execute(text(
        "update admin_sessions set refresh_id = :n, expires_at = :exp, last_used_at = now() where id = :s"),
        {"n": new_id, "exp": expires_at, "s": session_id})
    return "rotated"


async def revoke_session(session: AsyncSession, admin_id: uuid.UUID, session_id: uuid.UUID) -> bool:
    result = await session.execute(text("""
        update admin_sessions set revoked_at = coalesce(revoked_at, now()) where id = :s and admin_id = :a
    """), {"s": session_id, "a": admin_id})
    return result.rowcount == 1


async def sessions_of(session: AsyncSession, admin_id: uuid.UUID) -> list[AdminSession]:
    rows = await session.execute(text("""
        select id, ip, user_agent, created_at, last_used_at, expires_at, revoked_at from admin_sessions
        where admin_id = :a and revoked_at is null and expires_at > now() order by created_at desc limit 100
    """), {"a": admin_id})
    return [AdminSession(*row) for row in rows]


# The audit log -----------------------------------------------------------------------------------

async def append_audit(session: AsyncSession, entry: AuditEntry) -> None:
    """Insert one row; the trigger gives it its place in the chain (seq, prev_hash, hash)."""
    await session.execute(text("""
        insert into admin_audit_logs (seq, id, admin_id, admin_email, action, resource_type, resource_id, org_id,
            ip, user_agent, request_id, outcome, status_code, details, prev_hash, hash)
        values (0, :id, :admin_id, :admin_email, :action, :resource_type, :resource_id, :org_id, :ip, :user_agent,
            :request_id, :outcome, :status_code, cast(:details as jsonb), '', '')
    """), {**entry.__dict__, "id": uuid.uuid4(), "details": json.dumps(entry.details, default=str)})


_AUDIT = ("seq, id, created_at, admin_id, admin_email, action, resource_type, resource_id, org_id, ip, user_agent, "
          "request_id, outcome, status_code, details, hash")


async def audit_rows(session: AsyncSession, *, admin_id: uuid.UUID | None, org_id: uuid.UUID | None,
                     action: str | None, since: datetime | None, until: datetime | None, before: int | None,
                     limit: int) -> list[AuditRow]:
    """Newest first, `before` a seq (the keyset cursor)."""
    rows = await session.execute(text(f"""
        select {_AUDIT} from admin_audit_logs
        where (cast(:admin as uuid) is null or admin_id = :admin) and (cast(:org as uuid) is null or org_id = :org)
          and (cast(:action as text) is null or action = :action)
          and (cast(:since as timestamptz) is null or created_at >= :since)
          and (cast(:until as timestamptz) is null or created_at < :until)
          and (cast(:before as bigint) is null or seq < :before)
        order by seq desc limit :limit
    """), {"admin": admin_id, "org": org_id, "action": action, "since": since, "until": until, "before": before,
           "limit": limit})
    return [AuditRow(*row) for row in rows]


async def audit_chain(session: AsyncSession, after: int, limit: int) -> list[tuple]:
    """Rows in chain order with their hashed content as the database renders it (see 0013_admin.py)."""
    rows = await session.execute(text("""
        select seq, id::text, to_char(created_at at time zone 'UTC', 'YYYY-MM-DD"T"HH24:MI:SS.US"Z"'),
            coalesce(admin_id::text, ''), coalesce(admin_email, ''), action, coalesce(resource_type, ''),
            coalesce(resource_id, ''), coalesce(org_id::text, ''), coalesce(ip, ''), coalesce(user_agent, ''),
            coalesce(request_id, ''), outcome, coalesce(status_code::text, ''), details::text, prev_hash, hash
        from admin_audit_logs where seq > :after order by seq limit :limit
    """), {"after": after, "limit": limit})
    return [tuple(row) for row in rows]


def rows_as_dicts(result) -> list[dict[str, Any]]:
    return [dict(row) for row in result.mappings()]


# Customers (organizations seen across tenants) ---------------------------------------------------

_LIVE = "('active', 'trialing', 'past_due')"
# The organization's subscription that matters: the newest live one, else the newest.
_SUBSCRIPTION = """left join lateral (
        select plan, status, quantity, trial_end, current_period_end from subscriptions s where s.org_id = o.id
        order by s.status in {live} desc, s.created_at desc limit 1) s on true""".format(live=_LIVE)
_CUSTOMER = """o.id, o.name, o.created_at, o.suspended_at, o.suspend_reason,
    case when s.status in {live} then s.plan else 'free' end as plan, s.status as subscription_status,
    (select count(*) from memberships m where m.org_id = o.id) as members""".format(live=_LIVE)


def _like(value: str) -> str:
    return value.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_")


async def customers(session: AsyncSession, *, q: str | None, plan: str | None, status: str | None,
                    before: tuple[datetime, uuid.UUID] | None, limit: int) -> list[dict[str, Any]]:
    """Organizations newest first. `q`: a member's email (has @ inside), an email domain (@acme.com or
    acme.com) or part of the organization's name."""
    email = domain = name = None
    if q:
        q = q.strip().lower()
        if q.startswith("@"):
            domain = "%" + _like(q)
        elif "@" in q:
            email = q
        else:
            name, domain = "%" + _like(q) + "%", "%@" + _like(q)
    result = await session.execute(text(f"""
        select {_CUSTOMER} from organizations o {_SUBSCRIPTION}
        where (cast(:email as text) is null or exists (select 1 from memberships m join users u on u.id = m.user_id
                                                      where m.org_id = o.id and u.email = :email))
          and (cast(:name as text) is null and cast(:domain as text) is null
               or (cast(:name as text) is not null and o.name ilike :name)
               or (cast(:domain as text) is not null and exists (
                   select 1 from memberships m join users u on u.id = m.user_id
                   where m.org_id = o.id and u.email like :domain)))
          and (cast(:plan as text) is null or (case when s.status in {_LIVE} then s.plan else 'free' end) = :plan)
          and (cast(:status as text) is null
               or (:status = 'suspended' and o.suspended_at is not null)
               or (:status = 'active' and o.suspended_at is null)
               or (:status in ('trialing', 'past_due') and s.status = :status))
          and (cast(:at as timestamptz) is null or (o.created_at, o.id) < (:at, :id))
        order by o.created_at desc, o.id desc limit :n
    """), {"email": email, "name": name, "domain": domain, "plan": plan, "status": status,
           "at": before[0] if before else None, "id": before[1] if before else None, "n": limit})
    return rows_as_dicts(result)


async def customer(session: AsyncSession, org_id: uuid.UUID) -> dict[str, Any] | None:
    result = await session.execute(text(f"""
        select {_CUSTOMER}, o.extra_seats, o.extra_agents, s.quantity, s.trial_end, s.current_period_end
        from organizations o {_SUBSCRIPTION} where o.id = :o
    """), {"o": org_id})
    found = rows_as_dicts(result)
    return found[0] if found else None


async def members(session: AsyncSession, org_id: uuid.UUID) -> list[dict[str, Any]]:
    return rows_as_dicts(await session.execute(text("""
        select u.id as user_id, u.email, u.name, m.role, m.created_at as joined_at
        from memberships m join users u on u.id = m.user_id where m.org_id = :o order by m.created_at
    """), {"o": org_id}))


async def invoices(session: AsyncSession, org_id: uuid.UUID, limit: int = 12) -> list[dict[str, Any]]:
    return rows_as_dicts(await session.execute(text("""
        select id, number, status, amount_due, amount_paid, currency, issued_at, paid_at from invoices
        where org_id = :o order by issued_at desc limit :n
    """), {"o": org_id, "n": limit}))


async def recent_activity(session: AsyncSession, org_id: uuid.UUID, limit: int = 20) -> list[dict[str, Any]]:
    return rows_as_dicts(await session.execute(text("""
        select action, actor_user_id, subject_email, created_at from activity_logs
        where org_id = :o order by created_at desc limit :n
    """), {"o": org_id, "n": limit}))


async def notes(session: AsyncSession, org_id: uuid.UUID, limit: int = 50) -> list[dict[str, Any]]:
    return rows_as_dicts(await session.execute(text("""
        select n.id, n.body, n.created_at, n.admin_id, a.email as admin_email
        from admin_notes n join admin_users a on a.id = n.admin_id
        where n.org_id = :o order by n.created_at desc limit :n
    """), {"o": org_id, "n": limit}))


async def add_note(session: AsyncSession, org_id: uuid.UUID, admin_id: uuid.UUID, body: str) -> None:
    await session.execute(text("insert into admin_notes (id, org_id, admin_id, body) values (:i, :o, :a, :b)"),
                          {"i": uuid.uuid4(), "o": org_id, "a": admin_id, "b": body})


async def set_suspension(session: AsyncSession, org_id: uuid.UUID, reason: str | None) -> None:
    """Suspend with `reason`, or lift the suspension with None."""
    await session.execute(text("""
        update organizations set suspended_at = case when cast(:r as text) is null then null
                                                     else coalesce(suspended_at, now()) end,
                                 suspend_reason = :r where id = :o
    """), {"o": org_id, "r": reason})


async def set_grants(session: AsyncSession, org_id: uuid.UUID, *, extra_seats: int | None,
                     extra_agents: int | None) -> None:
    await session.execute(text("""
        update organizations set extra_seats = coalesce(:s, extra_seats), extra_agents = coalesce(:a, extra_agents)
        where id = :o
    """), {"o": org_id, "s": extra_seats, "a": extra_agents})


async def organizations_on_plans(session: AsyncSession, plans: list[str]) -> list[uuid.UUID]:
    """Organizations whose plan now is one of `plans` ('free': no live subscription)."""
    rows = await session.execute(text(f"""
        select o.id from organizations o {_SUBSCRIPTION}
        where (case when s.status in {_LIVE} then s.plan else 'free' end) = any(:plans) order by o.id
    """), {"plans": plans})
    return list(rows.scalars())


# An organization is active when someone or something of it acted: a command sent, a team or billing
# change logged, or a message in one of its conversations (docs/admin.md, Dashboard).
_ACTIVE_SINCE = """
    select count(*) from (
        select org_id from commands where created_at >= :since
        union select org_id from activity_logs where created_at >= :since
        union select org_id from messages where created_at >= :since
    ) active
"""


async def organization_counts(session: AsyncSession, *, week_start: datetime, since_7: datetime,
                              since_30: datetime) -> dict[str, int]:
    row = (await session.execute(text(f"""
        select (select count(*) from organizations) as total,
               (select count(*) from organizations where created_at >= :week_start) as new_this_week,
               (select count(*) from organizations where suspended_at is not null) as suspended,
               ({_ACTIVE_SINCE.replace(':since', ':since_7')}) as active_7_days,
               ({_ACTIVE_SINCE.replace(':since', ':since_30')}) as active_30_days
    """), {"week_start": week_start, "since_7": since_7, "since_30": since_30})).mappings().one()
    return dict(row)


# Each organization's current subscription: the live one if any, else the latest (as billing reads it).
_CURRENT_SUBSCRIPTIONS = """
    select distinct on (s.org_id) s.org_id, s.plan, s.status, s.quantity, s.trial_end, s.current_period_end
    from subscriptions s
    order by s.org_id, s.status in ('active', 'trialing', 'past_due') desc, s.created_at desc
"""


async def subscription_mix(session: AsyncSession) -> list[dict[str, Any]]:
    """(plan, status, quantity, organizations) over every organization's current subscription."""
    rows = await session.execute(text(f"""
        select plan, status, quantity, count(*) as organizations from ({_CURRENT_SUBSCRIPTIONS}) current
        group by plan, status, quantity
    """))
    return rows_as_dicts(rows)


async def subscriptions_in(session: AsyncSession, *, status: str, trial_end_before: datetime | None = None,
                           limit: int) -> tuple[int, list[dict[str, Any]]]:
    """How many organizations' current subscription has `status` (and a trial ending before then), and the
    first `limit` of them (soonest trial end or period end first)."""
    where = "c.status = :status" + (" and c.trial_end > now() and c.trial_end <= :before" if trial_end_before else "")
    params = {"status": status, "before": trial_end_before, "limit": limit}
    total = (await session.execute(text(
        f"select count(*) from ({_CURRENT_SUBSCRIPTIONS}) c where {where}"), params)).scalar()
    rows = await session.execute(text(f"""
        select o.id as org_id, o.name, c.plan, c.quantity, c.trial_end, c.current_period_end
        from ({_CURRENT_SUBSCRIPTIONS}) c join organizations o on o.id = c.org_id
        where {where} order by coalesce(c.trial_end, c.current_period_end) nulls last, o.id limit :limit
    """), params)
    return int(total or 0), rows_as_dicts(rows)


async def ticket_counts(session: AsyncSession) -> dict[str, int]:
    row = (await session.execute(text("""
        select count(*) filter (where status = 'open') as open,
               count(*) filter (where status = 'pending') as pending,
               count(*) filter (where assignee_id is null) as unassigned
        from support_tickets where status in ('open', 'pending')
    """))).mappings().one()
    return dict(row)
