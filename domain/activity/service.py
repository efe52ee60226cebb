"""Recording and reading the organization's activity log (team changes and billing events alike)."""

from __future__ import annotations

import uuid
from typing import Any

from sqlalchemy.ext.asyncio import AsyncSession

from domain import pagination
from domain.activity import repository
from domain.activity.models import ACTIONS, ActivityLog
from domain.errors import InvalidInput
from domain.models import utcnow


async def record(session: AsyncSession, actor_id: uuid.UUID | None, org_id: uuid.UUID, action: str, *,
                 ip: str | None, subject_user_id: uuid.UUID | None = None, subject_email: str | None = None,
                 details: dict[str, Any] | None = None) -> None:
    """Record one change in the activity log, in the change's own transaction (`actor_id` None: the system)."""
    if action not in ACTIONS:
        raise ValueError(f"{action!r} is not an activity log action")  # a bug, not a request to refuse
    await repository.add(session, {
        "id": uuid.uuid4(), "org_id": org_id, "actor_user_id": actor_id, "action": action,
        "subject_user_id": subject_user_id, "subject_email": subject_email, "details": details or {}, "ip": ip,
        "created_at": utcnow()})


async def entries(session: AsyncSession, org_id: uuid.UUID, *, actor: uuid.UUID | None, action: str | None,
                  cursor: str | None, limit: int) -> pagination.Page[ActivityLog]:
    """The organization's activity, newest first, optionally by one actor or one action."""
    if action is not None and action not in ACTIONS:
        raise InvalidInput(f"unknown action {action!r}", details={"field": "action", "known": list(ACTIONS)})
    return await repository.entries(session, org_id, actor=actor, action=action, cursor=cursor, limit=limit)
