"""The `notifications` queue: fan out, deliver to one person, broadcast.

Every actor is idempotent: ids derive from the batch (or broadcast) id, so
Dramatiq's retries and redeliveries save, count and email nothing twice.
"""

from __future__ import annotations

import uuid
from typing import Any

from domain import jobs
from domain.notifications import service as notifications
from workers.actors import job_actor
from workers.context import context

RETRIES = {"max_retries": 10, "min_backoff": 1_000, "max_backoff": 300_000}


@job_actor(notifications.FAN_OUT, **RETRIES)
async def fan_out(batch_id: str, org_id: str, type_: str, data: dict[str, Any], recipients: list[str] | None) -> None:
    ctx = context()
    org, people = uuid.UUID(org_id), [uuid.UUID(r) for r in recipients] if recipients is not None else None
    read = notifications.audience_read(org, type_, people)
    async with ctx.db.transaction(org_id=org, first_reads=(read,) if read else ()) as session:
        await notifications.fan_out(session, ctx.publisher, uuid.UUID(batch_id), org, type_, data, people)


@job_actor(notifications.DELIVER, **RETRIES)
async def deliver(batch_id: str, org_id: str, user_id: str, type_: str, data: dict[str, Any]) -> None:
    ctx = context()
    async with ctx.db.transaction(org_id=uuid.UUID(org_id), user_id=uuid.UUID(user_id)) as session:
        await notifications.deliver(session, ctx.publisher, batch_id=uuid.UUID(batch_id), org_id=uuid.UUID(org_id),
                                    user_id=uuid.UUID(user_id), type_=type_, data=data)


@job_actor(notifications.BROADCAST, **RETRIES)
async def broadcast(broadcast_id: str, type_: str, data: dict[str, Any], org_ids: list[str] | None,
                    after: str | None) -> None:
    """One batch of organizations, then the next batch as a new message (each retried on its own)."""
    async with context().db.transaction(system=True) as session:
        cursor = await notifications.broadcast_batch(
            session, uuid.UUID(broadcast_id), type_, data,
            [uuid.UUID(o) for o in org_ids] if org_ids is not None else None,
            uuid.UUID(after) if after else None)
        if cursor is not None:
            jobs.enqueue(session, notifications.BROADCAST, broadcast_id, type_, data,
                         org_ids, str(cursor))
