"""Billing rules: subscribing (a command), the organization's plan, invoices.

Stripe is reached only through the payments port (`domain/billing/payments.py`)
and only from workers. Subscribing runs in three committed steps, each safe to
repeat: the customer (recorded the moment Stripe returns it, in its own
transaction), then the payment method and the subscription, written with the
command's `succeeded`. Stripe idempotency keys derive from the command id and
the operation, so a retried attempt gets Stripe's first answers back.
"""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import datetime, timedelta, timezone
from typing import Any

from sqlalchemy.ext.asyncio import AsyncSession

from domain import pagination
from domain.accounts import repository as accounts
from domain.billing import entitlements, plans, repository
from domain.billing.errors import (
    AlreadySubscribed,
    CardDeclined,
    PaymentRejected,
    NothingToChange,
    PaymentUnavailable,
    PlanUnchanged,
    SeatsBelowPlan,
    SeatsInUse,
    SeatsWithDowngrade,
    SubscriptionNotFound,
    TrialAlreadyUsed,
)
from domain.billing.models import Invoice
from domain.billing.payments import Payments, SubscriptionState
from domain.commands import service as commands
from domain.commands.errors import CommandFailed, TransientFailure
from domain.commands.models import Command, CommandKind, Idempotency
from domain.models import utcnow
from domain.notifications import service as notifications
from domain.activity import service as activity

SUBSCRIBE = CommandKind("billing.subscribe", queue="billing", actor="billing.subscribe")
CANCEL = CommandKind("billing.cancel", queue="billing", actor="billing.cancel")
RESUME = CommandKind("billing.resume", queue="billing", actor="billing.resume")
CHANGE_PLAN = CommandKind("billing.change_plan", queue="billing", actor="billing.change_plan")


async def request_subscription(session: AsyncSession, org_id: uuid.UUID, user_id: uuid.UUID, *, plan: str,
                               payment_method: str, trial: bool = False, idempotency: Idempotency | None) -> Command:
    """Accept a subscription to a paid plan; the `billing` worker talks to Stripe.

    With `trial`, the plan's free trial first (one per organization): the card is kept, nothing is
    charged until the trial ends. Refused now: an unknown or free plan (422), an organization
    already subscribed (409), a second trial (409 `trial_already_used`).
    """
    chosen = plans.paid_plan(plan)
    current = await repository.current_subscription(session, org_id)
    if current is not None and current.live:
        raise AlreadySubscribed(f"this organization is already subscribed to the {current.plan} plan; "
                                "change the plan instead", details={"plan": current.plan})
    payload: dict[str, Any] = {"plan": chosen.name, "payment_method": payment_method}
    if trial:
        if await repository.had_trial(session, org_id):
            raise TrialAlreadyUsed("this organization has had its free trial; subscribe without one",
                                   details={"field": "trial"})
        # Fixed here, not in the worker: a retried attempt must send Stripe the same parameters
        # under the same idempotency key.
        payload["trial_end"] = int((utcnow() + timedelta(days=chosen.trial_days)).timestamp())
    return await commands.submit(session, SUBSCRIBE, org_id=org_id, user_id=user_id, payload=payload,
                                 idempotency=idempotency)


async def request_cancel(session: AsyncSession, org_id: uuid.UUID, user_id: uuid.UUID, *, resume: bool = False,
                         idempotency: Idempotency | None) -> Command:
    """Accept cancelling the live subscription at the end of its paid period (or, `resume`, undoing that).

    404 without a live subscription. The plan's limits stay until the period ends; Stripe then
    ends the subscription and its webhook brings the organization back to the free plan.
    """
    current = await repository.current_subscription(session, org_id)
    if current is None or not current.live:
        raise SubscriptionNotFound("this organization has no active subscription")
    return await commands.submit(session, RESUME if resume else CANCEL, org_id=org_id, user_id=user_id,
                                 payload={"subscription": current.stripe_subscription_id},
                                 idempotency=idempotency)


async def set_cancellation(session: AsyncSession, command: Command, payments: Payments) -> dict[str, Any]:
    """The worker's side of cancel and resume: tell Stripe, record what it says, log it."""
    cancel = command.kind == CANCEL.name
    subscription_id = command.payload["subscription"]
    with _payment_outcome():
        state = await payments.set_cancel_at_period_end(subscription_id, cancel,
                                                        idempotency_key=f"{command.id}:cancel_at_period_end")
    await record_subscription(session, command.org_id, state)
    await activity.record(session, command.user_id, command.org_id, "billing.subscription_changed", ip=None, details={
        "subscription": state.id, "status": state.status, "cancel_at_period_end": state.cancel_at_period_end})
    return {"subscription_id": state.id, "status": state.status, "cancel_at_period_end": state.cancel_at_period_end,
            "current_period_end": _moment(state.current_period_end).isoformat() if state.current_period_end else None}


async def request_plan_change(session: AsyncSession, org_id: uuid.UUID, user_id: uuid.UUID, *, plan: str | None,
                              seats: int | None, idempotency: Idempotency | None) -> Command:
    """Accept a change of the live subscription's plan, seats or both (a command).

    An upgrade is effective now, prorated by Stripe; a cheaper plan waits for the end of the paid
    period (`pending_plan`); the current plan again takes a pending downgrade back. Seats (the
    quantity: included ones plus any bought) change now, prorated. Refused now: 404 without a live
    subscription; 422 for neither, for fewer seats than the plan includes, or for seats with a
    downgrade; 409 for fewer seats than are in use, or for nothing to change.
    """
    if plan is None and seats is None:
        raise NothingToChange("give a plan, seats or both", details={"fields": ["plan", "seats"]})
    current = await repository.current_subscription(session, org_id)
    if current is None or not current.live:
        raise SubscriptionNotFound("this organization has no active subscription; subscribe first")
    chosen = plans.paid_plan(plan or current.plan)
    if seats is not None:
        if _cheaper(chosen, current.plan):
            raise SeatsWithDowngrade("a downgrade takes effect when the paid period ends; change the seats after it",
                                     details={"field": "seats"})
        if seats < chosen.seats:
            raise SeatsBelowPlan(f"the {chosen.title} plan includes {chosen.seats} seats; ask for {chosen.seats} "
                                 "or more", details={"field": "seats", "included": chosen.seats})
        await entitlements.check_seats_cover_use(session, org_id, seats)
    current_seats = plans.seats_of(plans.PLANS[current.plan], current.quantity) if current.plan in plans.PLANS else None
    if chosen.name == current.plan and (seats is None or seats == current_seats) and (
            plan is None or current.pending_plan is None):
        raise PlanUnchanged(f"this organization already has the {chosen.title} plan with {current_seats} seats")
    payload: dict[str, Any] = {"subscription": current.stripe_subscription_id, "plan": chosen.name}
    if plan is None:
        payload["seats_only"] = True  # a pending downgrade stays
    if seats is not None:
        payload["seats"] = seats
    return await commands.submit(session, CHANGE_PLAN, org_id=org_id, user_id=user_id, payload=payload,
                                 idempotency=idempotency)


def _cheaper(chosen: plans.Plan, current: str) -> bool:
    return current in plans.PLANS and chosen.price < plans.PLANS[current].price


async def change_plan(session: AsyncSession, command: Command, payments: Payments) -> dict[str, Any]:
    """The worker's side of a plan or seats change: an upgrade or new seats move the subscription at
    Stripe now; a downgrade is recorded as pending (applied by `apply_downgrade` when the period ends);
    the current plan again clears a pending downgrade."""
    chosen = plans.paid_plan(command.payload["plan"])
    seats = command.payload.get("seats")
    subscription_id = command.payload["subscription"]
    current = await repository.subscription_by_stripe_id(session, subscription_id)
    if current is None or not current.live:
        raise CommandFailed("this organization has no active subscription")
    if seats is None and (current.plan == chosen.name or _cheaper(chosen, current.plan)):
        pending = None if current.plan == chosen.name else chosen.name
        await repository.set_pending_plan(session, subscription_id, pending)
        effective_at = current.current_period_end.isoformat() if current.current_period_end else None
        await activity.record(session, command.user_id, command.org_id, "billing.subscription_changed", ip=None,
                              details={"subscription": subscription_id, "status": current.status,
                                       "plan": current.plan, "pending_plan": pending, "effective_at": effective_at})
        return {**_result(subscription_id, current.plan, current.status), "pending_plan": pending,
                "effective_at": effective_at}
    if seats is None:
        seats = plans.carried_seats(plans.PLANS.get(current.plan), current.quantity, chosen)
    else:
        # Again here: invitations accepted since the request may have taken seats. The lock holds
        # until this transaction commits, so none can slip in while Stripe is asked.
        try:
            await entitlements.check_seats_cover_use(session, command.org_id, seats)
        except SeatsInUse as refused:
            raise CommandFailed(refused.message) from refused
    with _payment_outcome():
        state = await payments.change_plan(subscription_id, chosen, seats, idempotency_key=f"{command.id}:change_plan")
    await record_subscription(session, command.org_id, state)
    if not command.payload.get("seats_only"):
        await repository.set_pending_plan(session, subscription_id, None)  # an upgrade replaces a pending downgrade
    await activity.record(session, command.user_id, command.org_id, "billing.subscription_changed", ip=None, details={
        "subscription": state.id, "status": state.status, "plan": chosen.name, "previous_plan": current.plan,
        "seats": seats, "previous_seats": current.quantity})
    return {**_result(state.id, chosen.name, state.status), "seats": seats}


# A downgrade is applied this long before the paid period ends, so that Stripe's renewal (drafted at the
# period end) is already at the cheaper price; the customer loses at most this much of the dearer plan,
# and Stripe's proration credits it (docs/decisions.md, 35).
DOWNGRADE_LEAD = timedelta(hours=1)


async def due_downgrades(session: AsyncSession, *, limit: int = 100) -> list[str]:
    """Subscriptions with a downgrade pending whose paid period ends within DOWNGRADE_LEAD (system scope)."""
    return await repository.due_downgrades(session, utcnow() + DOWNGRADE_LEAD, limit)


async def apply_downgrade(session: AsyncSession, payments: Payments, subscription_id: str) -> str:
    """Move a subscription whose period is about to end to its pending plan at Stripe, record it, log it (system scope).

    The idempotency key names the period, so a repeated run in the same period gets Stripe's first answer.
    """
    current = await repository.subscription_by_stripe_id(session, subscription_id)
    if current is None or current.pending_plan is None or not current.live:
        return f"subscription {subscription_id}: nothing pending"
    chosen = plans.paid_plan(current.pending_plan)
    seats = plans.carried_seats(plans.PLANS.get(current.plan), current.quantity, chosen)
    period = int(current.current_period_end.timestamp()) if current.current_period_end else 0
    state = await payments.change_plan(subscription_id, chosen, seats,
                                       idempotency_key=f"{subscription_id}:downgrade:{period}")
    await record_subscription(session, current.org_id, state)
    await repository.set_pending_plan(session, subscription_id, None)
    await activity.record(session, None, current.org_id, "billing.subscription_changed", ip=None, details={
        "subscription": subscription_id, "status": state.status, "plan": chosen.name, "previous_plan": current.plan})
    return f"subscription {subscription_id} moved from {current.plan} to {chosen.name}"


async def ensure_customer(session: AsyncSession, payments: Payments, command: Command) -> str:
    """The organization's Stripe customer, created once.

    The caller commits this transaction on its own, right away: once Stripe
    has the customer, nothing that fails later may lose its id. Concurrent
    subscribes of one organization wait on a lock here, and the second finds
    the first's customer.
    """
    await repository.lock_billing(session, command.org_id)
    existing = await repository.customer(session, command.org_id)
    if existing is not None:
        return existing
    org = await accounts.get_organization(session, command.org_id)
    user = await accounts.get_user(session, command.user_id) if command.user_id else None
    with _payment_outcome():
        customer = await payments.create_customer(
            org_id=str(command.org_id), name=org.name if org else str(command.org_id),
            email=user.email if user else None, idempotency_key=f"{command.id}:customer")
    await repository.add_customer(session, command.org_id, customer)
    return customer


async def subscribe(session: AsyncSession, command: Command, payments: Payments, customer: str, *,
                    ip: str | None = None) -> dict[str, Any]:
    """The worker's side: attach the card, subscribe, record the subscription.

    The organization's lock is held until this transaction commits with the
    subscription recorded, so a second subscribe running at the same time waits
    and then finds it (it would otherwise create a second one at Stripe).
    """
    chosen = plans.paid_plan(command.payload["plan"])
    await repository.lock_billing(session, command.org_id)
    current = await repository.current_subscription(session, command.org_id)
    if current is not None and current.live:
        if current.plan == chosen.name:
            return _result(current.stripe_subscription_id, current.plan, current.status, already=True)
        raise CommandFailed(f"this organization is already subscribed to the {current.plan} plan")
    key = str(command.id)
    with _payment_outcome():
        await payments.attach_default_payment_method(customer, command.payload["payment_method"],
                                                     idempotency_key=f"{key}:payment_method")
        state = await payments.create_subscription(customer, chosen, org_id=str(command.org_id), quantity=chosen.seats,
                                                   trial_end=command.payload.get("trial_end"),
                                                   idempotency_key=f"{key}:subscription")
    await record_subscription(session, command.org_id, state)
    await activity.record(session, command.user_id, command.org_id, "billing.subscribed", ip=ip,
                          details={"plan": chosen.name, "subscription": state.id, "status": state.status,
                                   "trial_end": _moment(state.trial_end).isoformat() if state.trial_end else None})
    return _result(state.id, chosen.name, state.status)


async def subscribe_failed(session: AsyncSession, command: Command) -> None:
    """A subscribe that failed for good: tell the owners and admins why, and log it."""
    notifications.notify(session, command.org_id, "billing.payment_failed", {"reason": command.error or ""})
    await activity.record(session, command.user_id, command.org_id, "billing.payment_failed", ip=None,
                          details={"plan": command.payload.get("plan"), "reason": command.error})


def _result(subscription_id: str, plan: str, status: str, already: bool = False) -> dict[str, Any]:
    result = {"subscription_id": subscription_id, "plan": plan, "status": status}
    if already:
        result["already_subscribed"] = True
    return result


@contextmanager
def _payment_outcome() -> Iterator[None]:
    """The payments port's errors as a command's outcome: a decline is final, an outage is retried.

    Only `PaymentError`s are translated; anything else is a bug and propagates as it is.
    """
    try:
        yield
    except CardDeclined as error:
        raise CommandFailed(f"your card was declined: {error.message}") from error
    except PaymentRejected as error:
        raise CommandFailed(f"the payment could not be set up: {error.message}") from error
    except PaymentUnavailable as error:
        raise TransientFailure(error.message) from error


def _moment(seconds: int | None) -> datetime | None:
    return datetime.fromtimestamp(seconds, timezone.utc) if seconds else None


async def record_subscription(session: AsyncSession, org_id: uuid.UUID, state: SubscriptionState) -> None:
    """Write Stripe's current view of a subscription (insert or update by its Stripe id)."""
    plan = plans.by_stripe_plan(state.stripe_plan)
    now = utcnow()
    await repository.upsert_subscription(session, {
        "id": uuid.uuid4(), "org_id": org_id, "stripe_subscription_id": state.id,
        "stripe_customer_id": state.customer, "plan": plan.name if plan else (state.stripe_plan or "unknown"),
        "status": state.status, "quantity": state.quantity,
        "current_period_end": _moment(state.current_period_end),
        "cancel_at_period_end": state.cancel_at_period_end, "trial_end": _moment(state.trial_end),
        "created_at": now, "updated_at": now})


async def list_invoices(session: AsyncSession, org_id: uuid.UUID, cursor: str | None,
                        limit: int) -> pagination.Page[Invoice]:
    return await repository.list_invoices(session, org_id, cursor, limit)
