"""What an organization's plan lets it have now (seats today; agents and messages next).

Kept apart from `service.py` so capabilities that enforce limits (team) can
ask without importing billing's Stripe side.
"""

from __future__ import annotations

import uuid

from sqlalchemy.ext.asyncio import AsyncSession

from domain.billing import plans, repository


async def current_plan(session: AsyncSession, org_id: uuid.UUID) -> plans.Plan:
    """The plan whose limits apply now: a live subscription's (active, trialing, past due), else free."""
    subscription = await repository.current_subscription(session, org_id)
    if subscription is not None and subscription.live and subscription.plan in plans.PLANS:
        return plans.PLANS[subscription.plan]
    return plans.PLANS[plans.FREE]


async def seat_limit(session: AsyncSession, org_id: uuid.UUID, *, free_plan_seats: int) -> int:
    """Seats the organization's plan includes (FREE_PLAN_SEATS without a live subscription)."""
    plan = await current_plan(session, org_id)
    return free_plan_seats if plan.name == plans.FREE else plan.seats
