"""What an organization's plan lets it have now, and the refusals when it has it all.

Billing reads the counts it limits from their owners (seats from the team,
agents and messages from agents); team and agents ask for the limits through
their own ports, which `limits.PlanLimits` implements.
"""

from __future__ import annotations

import dataclasses
import uuid
from dataclasses import dataclass
from datetime import datetime

from sqlalchemy.ext.asyncio import AsyncSession

from domain.accounts import service as accounts
from domain.agents import service as agents
from domain.billing import plans, repository
from domain.billing.errors import OrganizationRestricted, PlanLimitReached, SeatsInUse
from domain.billing.models import Subscription
from domain.billing.plans import FreeLimits
from domain.models import utcnow
from domain.team import service as team


@dataclass(frozen=True)
class Standing:
    """What applies to an organization now, from one read of its subscription."""

    plan: plans.Plan  # a live subscription's (active, trialing, past due), else free
    seats: int  # the plan's, or more bought; the free plan's without a live subscription
    subscription: Subscription | None  # the live one, else the latest; None if it never subscribed


async def standing(session: AsyncSession, org_id: uuid.UUID, free: FreeLimits | None = None) -> Standing:
    """With `free`, the free plan carries the configured limits instead of the catalog's defaults."""
    subscription = await repository.current_subscription(session, org_id)
    # Seats and agents an admin granted on top of the plan (docs/admin.md).
    extra_seats, extra_agents = await accounts.organization_grants(session, org_id)
    if subscription is not None and subscription.live and subscription.plan in plans.PLANS:
        plan = _with_extra_agents(plans.PLANS[subscription.plan], extra_agents)
        return Standing(plan, plans.seats_of(plan, subscription.quantity) + extra_seats, subscription)
    free_plan = _with_extra_agents(plans.configured(plans.PLANS[plans.FREE], free), extra_agents)
    return Standing(free_plan, free_plan.seats + extra_seats, subscription)


def _with_extra_agents(plan: plans.Plan, extra: int) -> plans.Plan:
    if not extra or plan.agent_limit is None:
        return plan
    return dataclasses.replace(plan, agent_limit=plan.agent_limit + extra)


async def current_plan(session: AsyncSession, org_id: uuid.UUID, free: FreeLimits | None = None) -> plans.Plan:
    """The plan whose limits apply now (see `standing`)."""
    return (await standing(session, org_id, free)).plan


async def check_seats_cover_use(session: AsyncSession, org_id: uuid.UUID, seats: int) -> None:
    """409 `seats_in_use` when fewer `seats` than are taken; under the lock invitations take to count
    seats, so none slips in between this check and the commit."""
    await team.lock_seats(session, org_id)
    used = await team.seats_used(session, org_id)
    if seats < used:
        raise SeatsInUse(f"{used} seats are in use (members and pending invitations); remove some first",
                         details={"field": "seats", "used": used})


RESTRICTED_ACTIONS = ("creating agents", "deploying agents", "inviting people")


async def check_not_restricted(session: AsyncSession, org_id: uuid.UUID) -> None:
    """402 `organization_restricted` once a failed payment's grace period is over (docs/billing.md, dunning)."""
    since = await repository.restricted_at(session, org_id)
    if since is not None:
        raise OrganizationRestricted(
            f"this organization is restricted since {since:%Y-%m-%d} because a payment failed: "
            f"{', '.join(RESTRICTED_ACTIONS)} wait for a paid invoice (update the payment method)",
            details={"restricted_at": since.isoformat(), "blocked": list(RESTRICTED_ACTIONS)})


async def check_agent_available(session: AsyncSession, org_id: uuid.UUID, *, free: FreeLimits | None) -> None:
    """One more agent must fit the plan's agent limit; 402 `plan_limit_reached` naming the plan that lifts it.

    Takes a per-organization lock until commit, so concurrent creates are counted one after the other.
    """
    await agents.lock_agent_count(session, org_id)
    plan = await current_plan(session, org_id, free)
    if plan.agent_limit is None:
        return
    used = await agents.count_agents(session, org_id)
    if used < plan.agent_limit:
        return
    upgrade = plans.upgrade_for(used)
    advice = f"; upgrade to {upgrade.title} for up to {upgrade.agent_limit or 'unlimited'} agents" if upgrade else ""
    raise PlanLimitReached(f"the {plan.title} plan allows {plan.agent_limit} agents and all are in use{advice}",
                           details={"limit": plan.agent_limit, "used": used, "plan": plan.name,
                                    "upgrade_to": upgrade.name if upgrade else None})


@dataclass(frozen=True)
class Usage:
    plan: plans.Plan  # with the free plan's configured limits
    seats: int  # the plan's, or more bought
    seats_used: int  # members + pending, unexpired invitations
    agents_used: int
    messages_used: int  # since `period_start`
    period_start: datetime  # the calendar month, UTC


def month_start(now: datetime) -> datetime:
    """The first instant of `now`'s calendar month (UTC): the message quota's period."""
    return now.replace(day=1, hour=0, minute=0, second=0, microsecond=0)


async def usage(session: AsyncSession, org_id: uuid.UUID, *, free: FreeLimits | None) -> Usage:
    """What the organization uses against its plan's limits (messages: this calendar month, UTC)."""
    now = await standing(session, org_id, free)
    month = month_start(utcnow())
    return Usage(plan=now.plan, seats=now.seats, seats_used=await team.seats_used(session, org_id),
                 agents_used=await agents.count_agents(session, org_id),
                 messages_used=await agents.count_messages_since(session, org_id, month), period_start=month)
