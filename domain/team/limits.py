"""How many seats the organization's plan has: a port, answered by billing.

The team counts its seats (members and live invitations, `service.seats_used`);
billing decides how many there may be. The edge hands the team billing's
`PlanLimits`, which implements this.
"""

from __future__ import annotations

import uuid
from typing import Protocol

from sqlalchemy.ext.asyncio import AsyncSession


class SeatLimits(Protocol):
    async def check_may_grow(self, session: AsyncSession, org_id: uuid.UUID) -> None:
        """Refuse (402) invitations while the organization is restricted for a failed payment."""

    async def seat_limit(self, session: AsyncSession, org_id: uuid.UUID) -> int:
        """The seats the organization has now (its plan's, more bought, or the free plan's)."""
