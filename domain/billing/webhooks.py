"""Stripe's webhooks: received by the edge, acted on by the `billing` worker.

The edge verifies the signature (`signature.verify_webhook`), then `receive`
stores the event once by its id and queues `billing.handle_event` only for a
new one, so Stripe's retries and duplicates cost one row and one job. The
worker never trusts the event's copy of the object: it fetches the
subscription or invoice from Stripe and writes what Stripe says now, so events
arriving out of order (an `updated` before its `created`) end in the right
state. All of this runs in the system scope: an event names a Stripe customer,
not one of our tenants, until the worker maps it.
"""

from __future__ import annotations

import logging
import uuid
from datetime import datetime, timedelta, timezone
from typing import Any

from sqlalchemy.ext.asyncio import AsyncSession

from domain import jobs
from domain.accounts import repository as accounts
from domain.billing import dunning, plans, repository, trials
from domain.billing.errors import PaymentRejected
from domain.billing.payments import InvoiceState, Payments
from domain.billing.service import record_subscription
from domain.mail import service as mail
from domain.models import utcnow
from domain.notifications import service as notifications
from domain.activity import service as activity

log = logging.getLogger(__name__)

HANDLE = jobs.JobKind("billing.handle_event", queue="billing")
MAX_ATTEMPTS = 30  # failed handlings of one event before the sweeper stops re-queueing it
SUBSCRIPTION_EVENTS = ("customer.subscription.created", "customer.subscription.updated",
                       "customer.subscription.deleted", "customer.subscription.trial_will_end")
# Stripe sends finalized/paid/payment_succeeded/payment_failed; the stand-in sends created,
# payment_succeeded and payment_failed. Every one triggers the same refetch.
INVOICE_EVENTS = ("invoice.created", "invoice.finalized", "invoice.updated", "invoice.paid",
                  "invoice.payment_succeeded", "invoice.payment_failed")


async def receive(session: AsyncSession, event: dict[str, Any]) -> bool:
    """Store a verified event once; queue its handling only if it is new. True when it was new."""
    new = await repository.add_event(session, event["id"], event["type"], event)
    if new:
        jobs.enqueue(session, HANDLE, event["id"])
    return new


async def handle(session: AsyncSession, payments: Payments, event_id: str) -> str:
    """Act on one stored event (system scope), once: what was done, for the log."""
    event = await repository.event_for_update(session, event_id)
    if event is None:
        return "unknown event"
    if event.handled_at is not None:
        return "already handled"
    if event.attempts >= MAX_ATTEMPTS:
        # A message still in flight after the sweeper stopped (Dramatiq's own retries): no further tries.
        return f"not handled: gave up after {event.attempts} attempts (an operator reads its error)"
    error = None
    if event.type not in SUBSCRIPTION_EVENTS + INVOICE_EVENTS:
        outcome = "ignored"
    elif (object_id := _object_id(event.payload)) is None:
        # Signed by Stripe (or by whoever holds our secret) but not an event we can act on: retrying
        # cannot change that, so it is closed now with the reason, not retried without end.
        outcome = error = "not handled: malformed event (data.object is not an object with an id)"
    else:
        try:
            if event.type in SUBSCRIPTION_EVENTS:
                outcome = await _subscription_changed(session, payments, object_id)
            else:
                outcome = await _invoice_changed(session, payments, object_id, event.type)
        except PaymentRejected as refused:
            # Stripe does not know the object (deleted, or another account's): nothing to mirror, and
            # retrying cannot help. Kept with the reason for an operator; transient errors propagate.
            outcome = error = f"not handled: {refused.message}"
        except NotOurs as stranger:
            # Kept, and visibly so: an operator finds these by their reason (`error like 'ignored:%'`).
            log.warning("stripe event %s ignored: %s", event.id, stranger)
            outcome = error = f"ignored: {stranger}"
    event.handled_at = utcnow()
    event.error = error
    await session.flush()
    return outcome


def _object_id(payload: dict[str, Any]) -> str | None:
    """The id of the Stripe object an event is about, or None when the event does not have one."""
    data = payload.get("data")
    obj = data.get("object") if isinstance(data, dict) else None
    object_id = obj.get("id") if isinstance(obj, dict) else None
    return object_id if isinstance(object_id, str) and object_id else None


class NotOurs(Exception):
    """The event is about a Stripe customer we never recorded: stored, closed as ignored, never acted on."""


async def _org_for(session: AsyncSession, customer: str, what: str) -> uuid.UUID:
    """The organization whose customer this is, by the id we recorded when we created it.

    Never the object's `metadata[org_id]`: anyone able to create objects in the Stripe account (or at the
    local stand-in, which takes any key) can write any organization's id there (docs/decisions.md, 77).
    """
    org_id = await repository.org_of_customer(session, customer)
    if org_id is None:
        raise NotOurs(f"{what} is about customer {customer}, which is not one we recorded; its metadata is "
                      "not trusted")
    return org_id


async def _subscription_changed(session: AsyncSession, payments: Payments, subscription_id: str) -> str:
    state = await payments.subscription(subscription_id)
    org_id = await _org_for(session, state.customer, f"subscription {state.id}")
    before = await repository.subscription_by_stripe_id(session, state.id)
    await record_subscription(session, org_id, state)
    after = plans.by_stripe_plan(state.stripe_plan)
    changed = before is None or (before.status, before.plan, before.cancel_at_period_end) != (
        state.status, after.name if after else before.plan, state.cancel_at_period_end)
    if before is not None and changed:
        await activity.record(session, None, org_id, "billing.subscription_changed", ip=None, details={
            "subscription": state.id, "status": state.status, "plan": after.name if after else state.stripe_plan,
            "previous_status": before.status, "cancel_at_period_end": state.cancel_at_period_end})
    # `trial_will_end` is the usual trigger; any event about a trial that ends soon will do (once).
    if await trials.remind_ending(session, subscription_id=state.id):
        return f"subscription {state.id} is {state.status}; reminded that its trial ends"
    return f"subscription {state.id} is {state.status}"


async def _invoice_changed(session: AsyncSession, payments: Payments, invoice_id: str, event_type: str) -> str:
    invoice = await payments.invoice(invoice_id)
    org_id = await _org_for(session, invoice.customer, f"invoice {invoice.id}")
    previous = await repository.invoice_status(session, invoice.id)
    first_paid = (invoice.status == "paid" and previous != "paid"
                  and await repository.count_paid_invoices(session, org_id) == 0)
    await _record_invoice(session, org_id, invoice, paid_now=invoice.status == "paid" and previous != "paid")
    if invoice.status == "paid" and previous != "paid":
        await activity.record(session, None, org_id, "billing.invoice_paid", ip=None, details={
            "invoice": invoice.id, "amount": invoice.amount_paid, "currency": invoice.currency})
    if first_paid and invoice.customer_email:
        await _confirm(session, org_id, invoice)
    if invoice.status == "paid" and previous != "paid":
        await dunning.payment_made(session, org_id)
    if event_type == "invoice.payment_failed" and invoice.status != "paid" and previous != invoice.status:
        notifications.notify(session, org_id, "billing.payment_failed", {
            "reason": f"the invoice of {plans.money(invoice.amount_due, invoice.currency)} could not be charged"})
        await dunning.payment_failed(session, org_id)
    return f"invoice {invoice.id} is {invoice.status}"


async def _record_invoice(session: AsyncSession, org_id: uuid.UUID, invoice: InvoiceState, *, paid_now: bool) -> None:
    now = utcnow()
    await repository.upsert_invoice(session, {
        "id": uuid.uuid4(), "org_id": org_id, "stripe_invoice_id": invoice.id,
        "stripe_subscription_id": invoice.subscription, "status": invoice.status, "amount_due": invoice.amount_due,
        "amount_paid": invoice.amount_paid, "currency": invoice.currency, "number": invoice.number,
        "hosted_invoice_url": invoice.hosted_invoice_url, "period_start": _moment(invoice.period_start),
        "period_end": _moment(invoice.period_end), "issued_at": _moment(invoice.created) or now,
        "paid_at": now if paid_now else None, "created_at": now, "updated_at": now})


async def _confirm(session: AsyncSession, org_id: uuid.UUID, invoice: InvoiceState) -> None:
    """The first paid invoice of an organization: a confirmation email, once (its dedupe key)."""
    org = await accounts.get_organization(session, org_id)
    subscription = await repository.subscription_by_stripe_id(session, invoice.subscription or "")
    plan = plans.PLANS.get(subscription.plan) if subscription else None
    mail.send_later(session, dedupe_key=f"billing_confirmation:{org_id}", to=invoice.customer_email,
                    template="billing_confirmation", context={
                        "organization_name": org.name if org else "", "plan_title": plan.title if plan else "paid",
                        "amount": plans.money(invoice.amount_paid, invoice.currency),
                        "invoice_url": invoice.hosted_invoice_url or ""})


def _moment(seconds: int | None) -> datetime | None:
    return datetime.fromtimestamp(seconds, timezone.utc) if seconds else None


async def note_failure(session: AsyncSession, event_id: str, error: str) -> None:
    """Count a failed attempt at an event, with its reason (system scope)."""
    await repository.note_event_error(session, event_id, error)


async def prune(session: AsyncSession, *, retention_days: int, limit: int = 5_000) -> int:
    """Delete one batch of handled events older than the retention window (system scope); how many.

    Unhandled ones stay, whatever their age: they wait for an operator (their `error` says why).
    """
    return await repository.delete_handled_events(session, utcnow() - timedelta(days=retention_days), limit)


async def resend_unhandled(session: AsyncSession, *, older_than: int, limit: int = 500) -> int:
    """The sweeper: queue again events stored but not handled (a lost enqueue, a handler that gave up).

    An event that failed MAX_ATTEMPTS times is left for an operator (its `error` says why)."""
    stale = await repository.unhandled_events(session, utcnow() - timedelta(seconds=older_than), limit,
                                              max_attempts=MAX_ATTEMPTS)
    for event_id in stale:
        jobs.enqueue(session, HANDLE, event_id)
    return len(stale)


async def unhandled(session: AsyncSession) -> tuple[int, datetime | None]:
    """Stored Stripe events not handled yet and the oldest one's arrival: a health figure (system scope)."""
    return await repository.count_unhandled_events(session)
