"""All SQL of notifications. Row-level security limits every statement to the
person in the transaction (app.user_id) in their organization."""

from __future__ import annotations

import uuid
from datetime import datetime
from typing import Any

from sqlalchemy import bindparam, select, text, update
from sqlalchemy.dialects.postgresql import JSONB
from sqlalchemy.ext.asyncio import AsyncSession

from domain import pagination
from domain.db import FirstRead, read_rows
from domain.notifications.models import Notification


# One person's delivery in one statement (decision 127): their preference for this type, their email (only
# while they are a member: a person removed since the trigger gets nothing), the notification saved unless
# its deterministic id exists, and the badge bumped only when it was. The policy (defaults, locked
# channels) stays in Python: the statement is told the in-app default and returns the raw email choice.
_DELIVER = text("""
    with chosen as (
        select bool_or(enabled) filter (where channel = 'in_app') as in_app,
               bool_or(enabled) filter (where channel = 'email') as email
        from notification_preferences where org_id = :org_id and user_id = :user_id and type = :type
    ), person as (
        select u.email from users u join memberships m on m.user_id = u.id and m.org_id = :org_id
        where u.id = :user_id
    ), saved as (
        insert into notifications (id, org_id, user_id, type, title, body, data, created_at)
        select :id, :org_id, :user_id, :type, :title, :body, :data, :created_at
        from chosen, person where :in_app_locked or coalesce(chosen.in_app, :in_app_default)
        on conflict (id) do nothing
        returning id
    ), badge as (
        insert into notification_badges (org_id, user_id, unread) select :org_id, :user_id, 1 from saved
        on conflict (org_id, user_id) do update set unread = notification_badges.unread + 1
        returning unread
    )
    select (select email from person), chosen.email, (select unread from badge) from chosen
""").bindparams(bindparam("data", type_=JSONB))


async def deliver_once(session: AsyncSession, values: dict[str, Any], *, in_app_default: bool,
                       in_app_locked: bool) -> tuple[str, bool | None, int | None] | None:
    """Save one person's notification as their in-app choice says: (their email, their email choice or
    None, the new unread count if it was saved now); None when they are no longer a member."""
    row = (await session.execute(_DELIVER, {**values, "in_app_default": in_app_default,
                                            "in_app_locked": in_app_locked})).one()
    return None if row[0] is None else (row[0], row[1], row[2])


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


_AUDIENCE_BY_ROLE = "select user_id from memberships where org_id = %(org_id)s and role = any(%(roles)s::text[])"
_AUDIENCE_AMONG = "select user_id from memberships where org_id = %(org_id)s and user_id = any(%(people)s::uuid[])"


def audience_read(org_id: uuid.UUID, roles: tuple[str, ...], people: list[uuid.UUID] | None) -> FirstRead:
    """The current members among `people`, or with one of `roles` when `people` is None, as a read the
    fan-out's transaction begins with (one round trip fewer). Arrays travel as literals: a `FirstRead`'s
    parameters must be hashable."""
    if people is None:
        return FirstRead(_AUDIENCE_BY_ROLE, (("org_id", org_id), ("roles", "{" + ",".join(roles) + "}")))
    return FirstRead(_AUDIENCE_AMONG, (("org_id", org_id), ("people", "{" + ",".join(map(str, people)) + "}")))


async def audience(session: AsyncSession, read: FirstRead) -> list[uuid.UUID]:
    """The people of `read`, from the transaction's first round trip when it began with it."""
    return [row[0] for row in await read_rows(session, read)]


async def members_with_roles(session: AsyncSession, org_id: uuid.UUID, roles: tuple[str, ...]) -> list[uuid.UUID]:
    return await audience(session, audience_read(org_id, roles, None))


async def organization_ids_after(session: AsyncSession, after: uuid.UUID | None, limit: int) -> list[uuid.UUID]:
    """Organizations in id order, for fanning a broadcast out in batches (system scope)."""
    query = "select id from organizations" + (" where id > :after" if after else "") + " order by id limit :n"
    rows = await session.execute(text(query), {"after": after, "n": limit})
    return list(rows.scalars())
