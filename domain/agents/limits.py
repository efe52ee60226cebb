"""What the organization's plan allows its agents: a port, answered by billing.

Agents do not know plans; billing knows agents (it counts them). The edge
hands the agents service billing's `PlanLimits`, which implements this.
"""

from __future__ import annotations

import uuid
from typing import Protocol

from sqlalchemy.ext.asyncio import AsyncSession

from domain.db import FirstRead


class AgentLimits(Protocol):
    async def check_may_grow(self, session: AsyncSession, org_id: uuid.UUID) -> None:
        """Refuse (402) new agents and deploys while the organization is restricted for a failed payment."""

    def may_grow_read(self, org_id: uuid.UUID | None) -> FirstRead | None:
        """What `check_may_grow` reads, for a transaction to begin with (one round trip fewer)."""

    async def check_agent_available(self, session: AsyncSession, org_id: uuid.UUID) -> None:
        """Refuse (402) one more agent past the plan's limit; holds a lock until commit so creates count in turn."""

    async def record_message(self, session: AsyncSession, org_id: uuid.UUID) -> None:
        """Count one message against the monthly quota (notices at 80 % and 100 %; never a refusal)."""
