"""Putting the plans catalog (`plans.py`) at Stripe or the stand-in, idempotently."""

from __future__ import annotations

from domain.billing.payments import StripePayments
from domain.billing.plans import PLANS


async def sync(payments: StripePayments) -> list[str]:
    """Create every paid plan's product and price plan that is missing; the names of those created.

    Existing ones are left as they are: Stripe plans cannot change price, so a
    new price is a new plan id in `plans.py`.
    """
    created = []
    for plan in PLANS.values():
        if plan.paid and await payments.ensure_plan(plan):
            created.append(plan.name)
    return created


async def sync_with(secret_key: str | None, api_base: str | None) -> list[str]:
    payments = StripePayments(secret_key, api_base)
    try:
        return await sync(payments)
    finally:
        await payments.close()
