"""Dunning: a failed invoice payment starts a grace period; past it the organization is restricted.

Restricted means the organization cannot grow: new agents, deploys and invitations answer
402 `organization_restricted` (`entitlements.check_not_restricted`). Everything else keeps
working. A paid invoice lifts the restriction and ends the grace period.
"""

from __future__ import annotations

import uuid
from datetime import timedelta

from sqlalchemy.ext.asyncio import AsyncSession

from domain.billing import repository
from domain.models import utcnow
from domain.notifications import service as notifications
from domain.team import service as team


async def payment_failed(session: AsyncSession, org_id: uuid.UUID) -> None:
    """An invoice payment failed: the grace period starts now, unless one is already running."""
    await repository.mark_payment_failed(session, org_id, utcnow())


async def payment_made(session: AsyncSession, org_id: uuid.UUID) -> None:
    """An invoice was paid: no grace period any more, and a restriction is lifted (and said so)."""
    if await repository.clear_payment_failure(session, org_id):
        await team.log(session, None, org_id, "billing.restored", ip=None)
        notifications.notify(session, org_id, "billing.restored", {})


async def restrict_overdue(session: AsyncSession, *, grace_days: int) -> list[uuid.UUID]:
    """Restrict every organization whose payment failed `grace_days` ago or more (system scope)."""
    now = utcnow()
    restricted = await repository.restrict_overdue(session, now - timedelta(days=grace_days), now)
    for org_id in restricted:
        await team.log(session, None, org_id, "billing.restricted", ip=None, details={"grace_days": grace_days})
        notifications.notify(session, org_id, "billing.restricted", {"days": grace_days})
    return restricted
