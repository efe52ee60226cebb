"""All SQL of the accounts capability."""

from __future__ import annotations

import uuid
from datetime import datetime

from sqlalchemy import exists, func, select, text, update
from sqlalchemy.dialects.postgresql import insert
from sqlalchemy.ext.asyncio import AsyncSession

from domain.accounts.models import AccountToken, KnownDevice, Membership, Organization, RefreshToken, User
from domain.db import FirstRead, driver_sql, read_rows


async def user_by_email(session: AsyncSession, email: str) -> User | None:
    return (await session.execute(select(User).where(User.email == email))).scalar_one_or_none()


async def get_user(session: AsyncSession, user_id: uuid.UUID) -> User | None:
    return await session.get(User, user_id)


async def get_organization(session: AsyncSession, org_id: uuid.UUID) -> Organization | None:
    return await session.get(Organization, org_id)


async def memberships_of(session: AsyncSession, user_id: uuid.UUID) -> list[Membership]:
    rows = await session.execute(
        select(Membership).where(Membership.user_id == user_id).order_by(Membership.created_at))
    return list(rows.scalars())


# The session must be proven live: a row of its family, of this person in this organization, not revoked.
# Checking only for a revoked row let a token come back to life once its rows were deleted (removing a
# member cascades to them) and the person was let back in (issue 14, finding 2).
LIVE_ROLE = text("""
    select m.role, o.suspended_at from memberships m join organizations o on o.id = m.org_id
    where m.org_id = :org_id and m.user_id = :user_id and exists (
        select 1 from refresh_tokens r where r.family_id = :session_id and r.org_id = :org_id
        and r.user_id = :user_id and r.revoked_at is null)""")
_LIVE_ROLE_DRIVER = driver_sql(LIVE_ROLE)


def live_role_read(org_id: uuid.UUID, user_id: uuid.UUID, session_id: uuid.UUID) -> FirstRead:
    """`live_role` as a read a transaction can begin with (the tenant routes' one round trip to start)."""
    return FirstRead(_LIVE_ROLE_DRIVER, (("org_id", org_id), ("user_id", user_id), ("session_id", session_id)))


async def live_role(session: AsyncSession, org_id: uuid.UUID, user_id: uuid.UUID,
                    session_id: uuid.UUID) -> tuple[str, datetime | None] | None:
    """The caller's role and the organization's suspension time (None: not suspended), or None if the
    membership or the login session is gone. One statement, and none at all when the transaction began
    with it (`live_role_read`)."""
    rows = await read_rows(session, live_role_read(org_id, user_id, session_id))
    return (rows[0][0], rows[0][1]) if rows else None


async def organization_grants(session: AsyncSession, org_id: uuid.UUID) -> tuple[int, int]:
    """(extra seats, extra agents) an admin granted the organization on top of its plan."""
    row = await session.execute(select(Organization.extra_seats, Organization.extra_agents)
                                .where(Organization.id == org_id))
    found = row.first()
    return (found[0], found[1]) if found else (0, 0)


async def refresh_token_for_update(session: AsyncSession, token_id: uuid.UUID) -> RefreshToken | None:
    row = await session.execute(select(RefreshToken).where(RefreshToken.id == token_id).with_for_update())
    return row.scalar_one_or_none()


async def revoke_family(session: AsyncSession, family_id: uuid.UUID) -> None:
    await session.execute(
        update(RefreshToken).where(RefreshToken.family_id == family_id, RefreshToken.revoked_at.is_(None))
        .values(revoked_at=func.now()))


async def revoke_user_sessions(session: AsyncSession, org_id: uuid.UUID, user_id: uuid.UUID) -> None:
    await session.execute(
        update(RefreshToken).where(RefreshToken.org_id == org_id, RefreshToken.user_id == user_id,
                                   RefreshToken.revoked_at.is_(None))
        .values(revoked_at=func.now()))


async def mark_used(session: AsyncSession, token: RefreshToken, when: datetime) -> None:
    token.used_at = when
    await session.flush()


async def live_session(session: AsyncSession, user_id: uuid.UUID, session_id: uuid.UUID) -> bool:
    """True if the login `session_id` of this person has a row not revoked (in any organization, or none)."""
    query = select(exists().where(RefreshToken.family_id == session_id, RefreshToken.user_id == user_id,
                                  RefreshToken.revoked_at.is_(None)))
    return bool((await session.execute(query)).scalar())


async def revoke_all_sessions(session: AsyncSession, user_id: uuid.UUID,
                              except_family: uuid.UUID | None = None) -> None:
    """End every login of the person (all organizations), but `except_family` (the caller's own)."""
    query = update(RefreshToken).where(RefreshToken.user_id == user_id, RefreshToken.revoked_at.is_(None))
    if except_family is not None:
        query = query.where(RefreshToken.family_id != except_family)
    await session.execute(query.values(revoked_at=func.now()))


async def retire_links(session: AsyncSession, user_id: uuid.UUID, purpose: str) -> None:
    """Older unused links of `purpose` die when a new one is sent: only the newest works."""
    await session.execute(
        update(AccountToken).where(AccountToken.user_id == user_id, AccountToken.purpose == purpose,
                                   AccountToken.used_at.is_(None)).values(used_at=func.now()))


async def link_for_update(session: AsyncSession, token_id: uuid.UUID) -> AccountToken | None:
    row = await session.execute(select(AccountToken).where(AccountToken.id == token_id).with_for_update())
    return row.scalar_one_or_none()


async def email_in_use(session: AsyncSession, email: str) -> bool:
    """Whether any account has `email` (the transaction must present it as `login_email`)."""
    return bool((await session.execute(select(exists().where(User.email == email)))).scalar())


async def has_known_devices(session: AsyncSession, user_id: uuid.UUID) -> bool:
    return bool((await session.execute(select(exists().where(KnownDevice.user_id == user_id)))).scalar())


async def remember_device(session: AsyncSession, user_id: uuid.UUID, fingerprint: str, label: str) -> bool:
    """Note a sign-in from the device; True if it was never seen before (two sign-ins at once: one True)."""
    inserted = await session.execute(
        insert(KnownDevice).values(user_id=user_id, fingerprint=fingerprint, label=label)
        .on_conflict_do_nothing().returning(KnownDevice.fingerprint))
    if inserted.first() is not None:
        return True
    await session.execute(update(KnownDevice).where(KnownDevice.user_id == user_id,
                                                    KnownDevice.fingerprint == fingerprint)
                          .values(last_seen_at=func.now()))
    return False
