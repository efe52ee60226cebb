"""What an organization's plan lets it have now (seats today; agents and messages next).

Kept apart from `service.py` so capabilities that enforce limits (team) can
ask without importing billing's Stripe side.
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from datetime import datetime

from sqlalchemy.ext.asyncio import AsyncSession

from domain.agents import repository as agents
from domain.billing import plans, repository
from domain.models import utcnow
from domain.team import repository as team


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


@dataclass(frozen=True)
class Usage:
    plan: plans.Plan
    seats_used: int  # members + pending, unexpired invitations
    seats_limit: int
    agents_used: int
    messages_used: int  # since `period_start`
    period_start: datetime  # the calendar month, UTC


async def usage(session: AsyncSession, org_id: uuid.UUID, *, free_plan_seats: int) -> Usage:
    """What the organization uses against its plan's limits (messages: this calendar month, UTC)."""
    plan = await current_plan(session, org_id)
    now = utcnow()
    month = now.replace(day=1, hour=0, minute=0, second=0, microsecond=0)
    seats = (await team.count_members(session, org_id)
             + await team.count_pending(session, org_id, now, except_email=None))
    return Usage(plan=plan, seats_used=seats,
                 seats_limit=free_plan_seats if plan.name == plans.FREE else plan.seats,
                 agents_used=await agents.count_agents(session, org_id),
                 messages_used=await agents.count_messages_since(session, org_id, month), period_start=month)
