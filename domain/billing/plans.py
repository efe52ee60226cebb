"""The plans catalog: the one place that says what each plan costs and includes.

`objecta billing sync-catalog` creates the paid plans at Stripe (or the local
stand-in) from this table, with these ids, so the code never looks an id up.
Prices are in the currency's smallest unit (cents).

At Stripe each paid plan is one tiered price with the subscription's quantity
as its seats: the plan's price covers the first `seats`, each one beyond costs
`extra_seat_price` (graduated tiers), so buying seats changes only the quantity.
"""

from __future__ import annotations

from dataclasses import dataclass

from domain.billing.errors import UnknownPlan

CURRENCY = "usd"


@dataclass(frozen=True)
class Plan:
    name: str  # what clients send: "free", "starter"...
    title: str
    price: int  # per interval, in cents, with `seats` included
    interval: str  # "month" | "year"
    seats: int  # members + pending invitations included in the price
    agent_limit: int | None  # None: unlimited
    monthly_messages: int | None  # None: unlimited
    stripe_product: str | None  # None: never billed (the free plan)
    stripe_plan: str | None
    trial_days: int = 0  # a first subscription may start with a free trial this long (0: none)
    extra_seat_price: int = 0  # cents per interval for each seat beyond `seats` (0: none can be bought)

    def price_for(self, seats: int) -> int:
        """What `seats` seats cost per interval: the price, plus the seats beyond those included."""
        return self.price + max(0, seats - self.seats) * self.extra_seat_price

    @property
    def paid(self) -> bool:
        return self.stripe_plan is not None


FREE = "free"

PLANS: dict[str, Plan] = {plan.name: plan for plan in (
    # The free plan's seats, agents and messages are FREE_PLAN_SEATS, FREE_PLAN_AGENTS and
    # FREE_PLAN_MESSAGES (see `catalog`); these are their defaults.
    Plan(FREE, "Free", 0, "month", seats=5, agent_limit=5, monthly_messages=1_000,
         stripe_product=None, stripe_plan=None),
    Plan("starter", "Starter", 2_900, "month", seats=10, agent_limit=10, monthly_messages=20_000,
         stripe_product="objecta_starter", stripe_plan="objecta_starter_seats_monthly",
         trial_days=14, extra_seat_price=800),
    Plan("pro", "Pro", 9_900, "month", seats=25, agent_limit=25, monthly_messages=200_000,
         stripe_product="objecta_pro", stripe_plan="objecta_pro_seats_monthly",
         trial_days=14, extra_seat_price=1200),
    Plan("enterprise", "Enterprise", 49_900, "month", seats=200, agent_limit=None, monthly_messages=None,
         stripe_product="objecta_enterprise", stripe_plan="objecta_enterprise_seats_monthly",
         trial_days=14, extra_seat_price=1000),
)}


@dataclass(frozen=True)
class FreeLimits:
    """The free plan's limits as configured: FREE_PLAN_SEATS, FREE_PLAN_AGENTS, FREE_PLAN_MESSAGES."""

    seats: int
    agents: int
    messages: int


def configured(chosen: Plan, free: FreeLimits | None) -> Plan:
    """`chosen` with the free plan's configured limits applied (other plans are as the table says)."""
    if chosen.name != FREE or free is None:
        return chosen
    return Plan(**{**chosen.__dict__, "seats": free.seats, "agent_limit": free.agents,
                   "monthly_messages": free.messages})


def catalog(free: FreeLimits) -> list[Plan]:
    """Every plan, cheapest first, with the free plan's limits as configured."""
    return [configured(p, free) for p in PLANS.values()]


def upgrade_for(used_agents: int) -> Plan | None:
    """The cheapest paid plan with room for one more agent than `used_agents` (None: no plan has)."""
    return next((p for p in PLANS.values()
                 if p.paid and (p.agent_limit is None or p.agent_limit > used_agents)), None)


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


def money(cents: int, currency: str = CURRENCY) -> str:
    """An amount as people read it: 29.00 USD."""
    return f"{cents / 100:,.2f} {currency.upper()}"


def seats_of(chosen: Plan, quantity: int) -> int:
    """The seats a subscription to `chosen` with this quantity gives: those bought, never fewer than included."""
    return max(chosen.seats, quantity)


def carried_seats(current: Plan | None, quantity: int, new: Plan) -> int:
    """The seats a plan change keeps: seats bought beyond the old plan's stay, else the new plan's included."""
    bought = quantity if current is not None and quantity > current.seats else 0
    return max(new.seats, bought)


def by_stripe_plan(stripe_plan: str | None) -> Plan | None:
    return next((p for p in PLANS.values() if p.stripe_plan and p.stripe_plan == stripe_plan), None)
