"""Dunning: a failed invoice payment starts a grace period; past it the organization is restricted.

The owners and admins hear of it three times, in-app and by email: `billing.payment_failed` when
it happens, `billing.payment_due` REMIND_BEFORE the restriction (naming the amount and the date),
`billing.restricted` when it starts; and `billing.restored` when an invoice is paid.

Restricted means the organization cannot grow: new agents, deploys and invitations answer
402 `organization_restricted` (`entitlements.check_not_restricted`). Everything else keeps
working. A paid invoice lifts the restriction and ends the grace period.
"""

from __future__ import annotations

import uuid
from datetime import timedelta

from sqlalchemy.ext.asyncio import AsyncSession

from domain.billing import plans, repository
from domain.models import utcnow
from domain.notifications import service as notifications
from domain.activity import service as activity


async def payment_failed(session: AsyncSession, org_id: uuid.UUID) -> None:
    """An invoice payment failed: the grace period starts now, unless one is already running."""
    await repository.mark_payment_failed(session, org_id, utcnow())


async def payment_made(session: AsyncSession, org_id: uuid.UUID) -> None:
    """An invoice was paid: no grace period any more, and a restriction is lifted (and said so)."""
    if await repository.clear_payment_failure(session, org_id):
        await activity.record(session, None, org_id, "billing.restored", ip=None)
        notifications.notify(session, org_id, "billing.restored", {})


REMIND_BEFORE = timedelta(days=3)


async def remind_overdue(session: AsyncSession, *, grace_days: int) -> list[uuid.UUID]:
    """Tell organizations restricted within REMIND_BEFORE what is due and by when, once per grace period."""
    now = utcnow()
    grace = timedelta(days=grace_days)
    reminded = await repository.remind_unpaid(session, now - max(grace - REMIND_BEFORE, timedelta(0)), now)
    for org_id, failed_at in reminded:
        unpaid = await repository.latest_unpaid_invoice(session, org_id)
        notifications.notify(session, org_id, "billing.payment_due", {
            "amount": plans.money(unpaid.amount_due, unpaid.currency) if unpaid else "your latest invoice",
            "due_date": f"{failed_at + grace:%B %d, %Y}"})
    return [org_id for org_id, _ in reminded]


async def restrict_overdue(session: AsyncSession, *, grace_days: int) -> list[uuid.UUID]:
    """Restrict every organization whose payment failed `grace_days` ago or more (system scope)."""
    now = utcnow()
    restricted = await repository.restrict_overdue(session, now - timedelta(days=grace_days), now)
    for org_id in restricted:
        await activity.record(session, None, org_id, "billing.restricted", ip=None, details={"grace_days": grace_days})
        notifications.notify(session, org_id, "billing.restricted", {"days": grace_days})
    return restricted
