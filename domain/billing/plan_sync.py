"""Putting the plans catalog (`plans.py`) at Stripe or the stand-in, idempotently."""

from __future__ import annotations

from domain.billing.payments import Payments
from domain.billing.plans import PLANS


async def sync(payments: Payments) -> list[str]:
    """Create every paid plan's product and price plan that is missing; the names of those created.

    Existing ones are left as they are: Stripe plans cannot change price, so a
    new price is a new plan id in `plans.py`.
    """
    created = []
    for plan in PLANS.values():
        if plan.paid and await payments.ensure_plan(plan):
            created.append(plan.name)
    return created
