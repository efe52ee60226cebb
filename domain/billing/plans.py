"""The plans catalog: the one place that says what each plan costs and includes.

`objecta billing sync-catalog` creates the paid plans at Stripe (or the local
stand-in) from this table, with these ids, so the code never looks an id up.
Prices are in the currency's smallest unit (cents).
"""

from __future__ import annotations

from dataclasses import dataclass

from domain.billing.errors import UnknownPlan

CURRENCY = "usd"


@dataclass(frozen=True)
class Plan:
    name: str  # what clients send: "free", "starter"...
    title: str
    price: int  # per interval, in cents
    interval: str  # "month" | "year"
    seats: int  # members + pending invitations included
    agent_limit: int | None  # None: unlimited
    monthly_messages: int | None  # None: unlimited
    stripe_product: str | None  # None: never billed (the free plan)
    stripe_plan: str | None

    @property
    def paid(self) -> bool:
        return self.stripe_plan is not None


FREE = "free"

PLANS: dict[str, Plan] = {plan.name: plan for plan in (
    # The free plan's seats are FREE_PLAN_SEATS (see `catalog`); 5 is the default.
    Plan(FREE, "Free", 0, "month", seats=5, agent_limit=1, monthly_messages=1_000,
         stripe_product=None, stripe_plan=None),
    Plan("starter", "Starter", 2_900, "month", seats=10, agent_limit=5, monthly_messages=20_000,
         stripe_product="objecta_starter", stripe_plan="objecta_starter_monthly"),
    Plan("pro", "Pro", 9_900, "month", seats=25, agent_limit=25, monthly_messages=200_000,
         stripe_product="objecta_pro", stripe_plan="objecta_pro_monthly"),
    Plan("enterprise", "Enterprise", 49_900, "month", seats=200, agent_limit=None, monthly_messages=None,
         stripe_product="objecta_enterprise", stripe_plan="objecta_enterprise_monthly"),
)}


def catalog(*, free_plan_seats: int) -> list[Plan]:
    """Every plan, cheapest first, with the free plan's seats as configured."""
    plans = list(PLANS.values())
    plans[0] = Plan(**{**plans[0].__dict__, "seats": free_plan_seats})
    return plans


def plan(name: str) -> Plan:
    """The plan called `name`; 422 for a name the catalog does not have."""
    try:
        return PLANS[name]
    except KeyError:
        raise UnknownPlan(f"unknown plan {name!r}", details={"field": "plan", "known": list(PLANS)}) from None


def paid_plan(name: str) -> Plan:
    """A plan one can subscribe to (the free plan is what you have without a subscription)."""
    chosen = plan(name)
    if not chosen.paid:
        raise UnknownPlan(f"{name!r} is not a plan you subscribe to; cancel the subscription to go back to it",
                          details={"field": "plan", "known": [p for p in PLANS if PLANS[p].paid]})
    return chosen


def by_stripe_plan(stripe_plan: str | None) -> Plan | None:
    return next((p for p in PLANS.values() if p.stripe_plan and p.stripe_plan == stripe_plan), None)
