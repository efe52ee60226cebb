"""The operator's dashboard: organizations, revenue, trials, dunning and the ticket queue at a glance.

Definitions (docs/admin.md, Dashboard):
- active in N days: the organization sent a command, had a team or billing change logged, or had a
  message in one of its conversations within the last N days;
- new this week: created since Monday 00:00 UTC;
- MRR: the catalog price (`plans.Plan.price_for`, seats included) of every organization whose current
  subscription is `active` or `past_due`, per month (a yearly price counts a twelfth). A trial is not
  revenue yet: `trialing` is shown apart as `trial_mrr` (what the trials would bring if they convert).
  `past_due` still counts, because the subscription runs and Stripe retries the payment; its share is
  shown apart as `past_due_mrr` too. Prices come from our catalog, not Stripe: discounts and taxes are
  not in it.
"""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import Any

from sqlalchemy.ext.asyncio import AsyncSession

from domain.admin import repository
from domain.billing import plans
from domain.errors import DomainError

LISTED = 20  # organizations named per list (trials ending, past due); the counts are whole


def _monthly(plan_name: str, quantity: int) -> int:
    try:
        plan = plans.plan(plan_name)
    except DomainError:  # a plan no longer in the catalog: not revenue we can price
        return 0
    price = plan.price_for(plans.seats_of(plan, quantity))
    return price // 12 if plan.interval == "year" else price


def revenue(mix: list[dict[str, Any]]) -> dict[str, Any]:
    """MRR figures from (plan, status, quantity, organizations) rows, in cents."""
    by_status: dict[str, int] = {}
    counts: dict[str, int] = {}
    for row in mix:
        amount = _monthly(row["plan"], row["quantity"]) * row["organizations"]
        by_status[row["status"]] = by_status.get(row["status"], 0) + amount
        counts[row["status"]] = counts.get(row["status"], 0) + row["organizations"]
    return {"mrr": by_status.get("active", 0) + by_status.get("past_due", 0),
            "past_due_mrr": by_status.get("past_due", 0), "trial_mrr": by_status.get("trialing", 0),
            "currency": plans.CURRENCY, "paying_organizations": counts.get("active", 0) + counts.get("past_due", 0),
            "trialing_organizations": counts.get("trialing", 0)}


async def figures(session: AsyncSession, now: datetime) -> dict[str, Any]:
    """Everything the dashboard shows but the health summary (system scope)."""
    midnight = now.replace(hour=0, minute=0, second=0, microsecond=0)
    organizations = await repository.organization_counts(
        session, week_start=midnight - timedelta(days=now.weekday()), since_7=now - timedelta(days=7),
        since_30=now - timedelta(days=30))
    trials_total, trials = await repository.subscriptions_in(session, status="trialing",
                                                             trial_end_before=now + timedelta(days=7), limit=LISTED)
    past_due_total, past_due = await repository.subscriptions_in(session, status="past_due", limit=LISTED)
    return {"organizations": organizations, "revenue": revenue(await repository.subscription_mix(session)),
            "trials_ending": {"next_7_days": trials_total, "organizations": trials},
            "past_due": {"organizations_count": past_due_total, "organizations": past_due},
            "tickets": await repository.ticket_counts(session)}
