"""All SQL of notifications. Row-level security limits every statement to the
person in the transaction (app.user_id) in their organization."""

from __future__ import annotations

import uuid
from datetime import datetime
from typing import Any

from sqlalchemy import select, text, update
from sqlalchemy.dialects.postgresql import insert
from sqlalchemy.ext.asyncio import AsyncSession

from domain import pagination
from domain.accounts.models import Membership, User
from domain.notifications.models import Notification


async def insert_once(session: AsyncSession, values: dict[str, Any]) -> bool:
    """Insert a notification unless its (deterministic) id exists: redeliveries add nothing."""
    statement = (insert(Notification.__table__).values(**values)
                 .on_conflict_do_nothing(index_elements=["id"]).returning(Notification.__table__.c.id))
    return (await session.execute(statement)).first() is not None


async def bump_badge(session: AsyncSession, org_id: uuid.UUID, user_id: uuid.UUID, delta: int) -> int:
    """Add `delta` to the unread counter (created at 0 if missing); the new count."""
    row = await session.execute(text("""
        insert into notification_badges (org_id, user_id, unread) values (:o, :u, greatest(:d, 0))
        on conflict (org_id, user_id) do update set unread = greatest(notification_badges.unread + :d, 0)
        returning unread
    """), {"o": org_id, "u": user_id, "d": delta})
    return row.scalar_one()


async def reset_badge(session: AsyncSession, org_id: uuid.UUID, user_id: uuid.UUID) -> None:
    await session.execute(text("""
        insert into notification_badges (org_id, user_id, unread) values (:o, :u, 0)
        on conflict (org_id, user_id) do update set unread = 0
    """), {"o": org_id, "u": user_id})


async def unread_count(session: AsyncSession, org_id: uuid.UUID, user_id: uuid.UUID) -> int:
    row = await session.execute(text(
        "select unread from notification_badges where org_id = :o and user_id = :u"), {"o": org_id, "u": user_id})
    return row.scalar_one_or_none() or 0


async def inbox(session: AsyncSession, org_id: uuid.UUID, user_id: uuid.UUID, *, unread_only: bool,
                cursor: str | None, limit: int) -> pagination.Page[Notification]:
    query = select(Notification).where(Notification.org_id == org_id, Notification.user_id == user_id)
    if unread_only:
        query = query.where(Notification.read_at.is_(None))
    query = pagination.newest_first(query, Notification, cursor, limit)
    return pagination.page(list((await session.execute(query)).scalars()), limit)


async def mark_read(session: AsyncSession, notification_id: uuid.UUID, when: datetime) -> Notification | None:
    """Mark one read; None if it was already read (or is not this person's)."""
    statement = (update(Notification).where(Notification.id == notification_id, Notification.read_at.is_(None))
                 .values(read_at=when).returning(Notification))
    return (await session.execute(statement)).scalar_one_or_none()


async def get(session: AsyncSession, notification_id: uuid.UUID) -> Notification | None:
    return await session.get(Notification, notification_id)


async def mark_all_read(session: AsyncSession, org_id: uuid.UUID, user_id: uuid.UUID, when: datetime) -> int:
    result = await session.execute(
        update(Notification).where(Notification.org_id == org_id, Notification.user_id == user_id,
                                   Notification.read_at.is_(None)).values(read_at=when))
    return result.rowcount


async def preferences(session: AsyncSession, org_id: uuid.UUID, user_id: uuid.UUID) -> dict[tuple[str, str], bool]:
    rows = await session.execute(text(
        "select type, channel, enabled from notification_preferences where org_id = :o and user_id = :u"),
        {"o": org_id, "u": user_id})
    return {(type_, channel): enabled for type_, channel, enabled in rows}


async def set_preference(session: AsyncSession, org_id: uuid.UUID, user_id: uuid.UUID, type_: str, channel: str,
                         enabled: bool) -> None:
    await session.execute(text("""
        insert into notification_preferences (org_id, user_id, type, channel, enabled)
        values (:o, :u, :t, :c, :e)
        on conflict (org_id, user_id, type, channel) do update set enabled = :e, updated_at = now()
    """), {"o": org_id, "u": user_id, "t": type_, "c": channel, "e": enabled})


async def members_with_roles(session: AsyncSession, org_id: uuid.UUID, roles: tuple[str, ...]) -> list[uuid.UUID]:
    rows = await session.execute(select(Membership.user_id).where(Membership.org_id == org_id,
                                                                  Membership.role.in_(roles)))
    return list(rows.scalars())


async def members_among(session: AsyncSession, org_id: uuid.UUID, user_ids: list[uuid.UUID]) -> list[uuid.UUID]:
    rows = await session.execute(select(Membership.user_id).where(Membership.org_id == org_id,
                                                                  Membership.user_id.in_(user_ids)))
    return list(rows.scalars())


async def recipient(session: AsyncSession, user_id: uuid.UUID) -> User | None:
    return await session.get(User, user_id)


async def organization_ids_after(session: AsyncSession, after: uuid.UUID | None, limit: int) -> list[uuid.UUID]:
    """Organizations in id order, for fanning a broadcast out in batches (system scope)."""
    query = "select id from organizations" + (" where id > :after" if after else "") + " order by id limit :n"
    rows = await session.execute(text(query), {"after": after, "n": limit})
    return list(rows.scalars())
