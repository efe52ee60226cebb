"""The payments port: the few things billing asks of Stripe, and what Stripe answers.

The adapter lives outside the capability (`domain/adapters/stripe_payments.py`,
built by `objecta.wiring.payments`): importing billing never loads the Stripe
SDK, so the edge, which never calls Stripe, does not carry it.

Every write takes an idempotency key; callers derive it from the command id
and the operation, so a retried command gets Stripe's first answer back
instead of a second customer or subscription.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Protocol

from domain.billing.plans import Plan


@dataclass(frozen=True)
class SubscriptionState:
    """What Stripe says a subscription is now."""

    id: str
    customer: str
    status: str  # incomplete, active, trialing, past_due, canceled, unpaid, incomplete_expired
    stripe_plan: str | None
    quantity: int
    current_period_end: int | None  # unix seconds
    cancel_at_period_end: bool
    org_id: str | None  # from our metadata
    item_id: str | None = None  # the one subscription item (its plan is what we bill)
    trial_end: int | None = None  # unix seconds; set while (or since) the subscription was a trial


@dataclass(frozen=True)
class InvoiceState:
    id: str
    customer: str
    subscription: str | None
    status: str  # draft, open, paid, void, uncollectible
    amount_due: int
    amount_paid: int
    currency: str
    customer_email: str | None
    number: str | None
    hosted_invoice_url: str | None
    created: int
    period_start: int | None
    period_end: int | None


class Payments(Protocol):
    """The payments port: what billing asks of Stripe. Every write takes an idempotency key.

    Errors are ours: `CardDeclined`, `PaymentRejected` (permanent), `PaymentUnavailable` (retry later).
    """

    async def create_customer(self, *, org_id: str, name: str, email: str | None, idempotency_key: str) -> str: ...

    async def attach_default_payment_method(self, customer: str, payment_method: str, *,
                                            idempotency_key: str) -> str: ...

    async def create_subscription(self, customer: str, plan: Plan, *, org_id: str, quantity: int = 1,
                                  trial_end: int | None = None, idempotency_key: str) -> SubscriptionState: ...

    async def set_cancel_at_period_end(self, subscription_id: str, cancel: bool, *,
                                       idempotency_key: str) -> SubscriptionState: ...

    async def change_plan(self, subscription_id: str, plan: Plan, seats: int, *,
                          idempotency_key: str) -> SubscriptionState: ...

    async def set_trial_end(self, subscription_id: str, trial_end: int, *,
                            idempotency_key: str) -> SubscriptionState:
        """Move a trialing subscription's trial end (unix seconds); nothing is charged or prorated."""

    async def subscription(self, subscription_id: str) -> SubscriptionState: ...

    async def invoice(self, invoice_id: str) -> InvoiceState: ...

    async def ensure_plan(self, plan: Plan) -> bool:
        """Create the plan's product and price plan unless they exist; True when created."""

    async def close(self) -> None: ...
