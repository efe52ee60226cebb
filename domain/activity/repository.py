"""All SQL of the activity log."""

from __future__ import annotations

import uuid
from typing import Any

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from domain import pagination
from domain.activity.models import ActivityLog


async def add(session: AsyncSession, values: dict[str, Any]) -> None:
    session.add(ActivityLog(**values))
    await session.flush()


async def entries(session: AsyncSession, org_id: uuid.UUID, *, actor: uuid.UUID | None, action: str | None,
                  cursor: str | None, limit: int) -> pagination.Page[ActivityLog]:
    query = select(ActivityLog).where(ActivityLog.org_id == org_id)
    if actor is not None:
        query = query.where(ActivityLog.actor_user_id == actor)
    if action is not None:
        query = query.where(ActivityLog.action == action)
    query = pagination.newest_first(query, ActivityLog, cursor, limit)
    return pagination.page(list((await session.execute(query)).scalars()), limit)
