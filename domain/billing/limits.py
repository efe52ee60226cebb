"""The plans' limits as this deployment configures the free plan, built once per process.

`PlanLimits` answers the ports of the capabilities that billing limits:
`domain.agents.limits.AgentLimits` and `domain.team.limits.SeatLimits`. The
free plan's limits come from settings (FREE_PLAN_SEATS, _AGENTS, _MESSAGES),
so they are fixed here once instead of on every request.
"""

from __future__ import annotations

import uuid

from sqlalchemy.ext.asyncio import AsyncSession

from domain.billing import entitlements, plans, quota, repository
from domain.billing.entitlements import Standing, Usage
from domain.billing.plans import FreeLimits
from domain.db import FirstRead


class PlanLimits:
    def __init__(self, free: FreeLimits):
        self.free = free

    def catalog(self) -> list[plans.Plan]:
        """Every plan, the free one with this deployment's limits."""
        return plans.catalog(self.free)

    async def standing(self, session: AsyncSession, org_id: uuid.UUID) -> Standing:
        return await entitlements.standing(session, org_id, self.free)

    async def usage(self, session: AsyncSession, org_id: uuid.UUID) -> Usage:
        return await entitlements.usage(session, org_id, free=self.free)

    async def check_may_grow(self, session: AsyncSession, org_id: uuid.UUID) -> None:
        await entitlements.check_not_restricted(session, org_id)

    def may_grow_read(self, org_id: uuid.UUID | None) -> FirstRead | None:
        """What `check_may_grow` reads, for the route's transaction to begin with (`tenant(..., also=...)`)."""
        return repository.restricted_read(org_id) if org_id is not None else None

    async def check_agent_available(self, session: AsyncSession, org_id: uuid.UUID) -> None:
        await entitlements.check_agent_available(session, org_id, free=self.free)

    async def record_message(self, session: AsyncSession, org_id: uuid.UUID) -> None:
        await quota.record_message(session, org_id, free=self.free)

    async def seat_limit(self, session: AsyncSession, org_id: uuid.UUID) -> int:
        return (await self.standing(session, org_id)).seats
