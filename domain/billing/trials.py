"""Trials: a first subscription may start with its plan's free trial, and three days before the
trial ends the owners and admins hear of it, in-app and by email, once.

Stripe announces it with `customer.subscription.trial_will_end` (three days before, by default);
the daily `billing.remind_trials` job finds the same trials in our rows, for when that event is
late, lost or, with the stand-in, never sent. Whichever comes first reminds; the row's
`trial_reminded_at` makes it once.
"""

from __future__ import annotations

import math
from datetime import timedelta

from sqlalchemy.ext.asyncio import AsyncSession

from domain.billing import plans, repository
from domain.models import utcnow
from domain.notifications import service as notifications

REMIND_BEFORE = timedelta(days=3)


async def remind_ending(session: AsyncSession, *, subscription_id: str | None = None, limit: int = 500) -> int:
    """Remind of trials ending within REMIND_BEFORE (all of them, or one subscription's); how many (system scope)."""
    now = utcnow()
    due = await repository.trials_ending(session, now + REMIND_BEFORE, now, limit, stripe_subscription_id=subscription_id)
    for subscription in due:
        subscription.trial_reminded_at = now
        days = max(1, math.ceil((subscription.trial_end - now) / timedelta(days=1)))
        plan = plans.PLANS.get(subscription.plan)
        notifications.notify(session, subscription.org_id, "billing.trial_ending", {
            "days": f"{days} day{'s' if days > 1 else ''}", "ends_on": f"{subscription.trial_end:%B %d, %Y}",
            "plan": plan.title if plan else subscription.plan,
            "amount": plans.money(plan.price_for(subscription.quantity)) if plan else ""})
    await session.flush()
    return len(due)
