"""All SQL of the billing capability."""

from __future__ import annotations

import uuid
from datetime import datetime
from typing import Any

from sqlalchemy import func, select, text, update
from sqlalchemy.dialects.postgresql import insert
from sqlalchemy.ext.asyncio import AsyncSession

from domain import pagination
from domain.billing.models import LIVE, BillingCustomer, Invoice, StripeEvent, Subscription
from domain.db import FirstRead, driver_sql, read_rows


async def lock_billing(session: AsyncSession, org_id: uuid.UUID) -> None:
    """Serialize billing work of one organization (two subscribes must not make two customers)."""
    await session.execute(text("select pg_advisory_xact_lock(hashtext('billing'), hashtext(:org))"),
                          {"org": str(org_id)})


async def customer(session: AsyncSession, org_id: uuid.UUID) -> str | None:
    found = await session.execute(select(BillingCustomer.stripe_customer_id).where(BillingCustomer.org_id == org_id))
    return found.scalar_one_or_none()


async def add_customer(session: AsyncSession, org_id: uuid.UUID, stripe_customer_id: str) -> None:
    await session.execute(insert(BillingCustomer.__table__).values(
        org_id=org_id, stripe_customer_id=stripe_customer_id).on_conflict_do_nothing())


async def org_of_customer(session: AsyncSession, stripe_customer_id: str) -> uuid.UUID | None:
    found = await session.execute(select(BillingCustomer.org_id)
                                  .where(BillingCustomer.stripe_customer_id == stripe_customer_id))
    return found.scalar_one_or_none()


async def current_subscription(session: AsyncSession, org_id: uuid.UUID) -> Subscription | None:
    """The live subscription if there is one, else the most recent."""
    query = (select(Subscription).where(Subscription.org_id == org_id)
             .order_by(Subscription.status.in_(LIVE).desc(), Subscription.created_at.desc()).limit(1))
    return (await session.execute(query)).scalar_one_or_none()


async def had_trial(session: AsyncSession, org_id: uuid.UUID) -> bool:
    """Whether any subscription of the organization, live or ended, started with a trial."""
    found = await session.execute(select(Subscription.id).where(Subscription.org_id == org_id,
                                                                Subscription.trial_end.is_not(None)).limit(1))
    return found.first() is not None


async def trials_ending(session: AsyncSession, ending_by: datetime, now: datetime, limit: int, *,
                        stripe_subscription_id: str | None = None) -> list[Subscription]:
    """Trialing subscriptions whose trial ends between now and `ending_by`, not yet reminded (system scope).

    Locked, skipping rows another transaction holds: two runs never remind of one trial twice.
    """
    query = (select(Subscription)
             .where(Subscription.status == "trialing", Subscription.trial_reminded_at.is_(None),
                    Subscription.trial_end > now, Subscription.trial_end <= ending_by)
             .order_by(Subscription.trial_end).limit(limit).with_for_update(skip_locked=True)
             # The webhook handler has just upserted the row in Core: refresh what the session holds.
             .execution_options(populate_existing=True))
    if stripe_subscription_id is not None:
        query = query.where(Subscription.stripe_subscription_id == stripe_subscription_id)
    return list((await session.execute(query)).scalars())


async def upsert_subscription(session: AsyncSession, values: dict[str, Any]) -> None:
    statement = insert(Subscription.__table__).values(**values)
    changing = {k: statement.excluded[k] for k in ("plan", "status", "quantity", "current_period_end",
                                                   "cancel_at_period_end", "trial_end", "updated_at")}
    await session.execute(statement.on_conflict_do_update(index_elements=["stripe_subscription_id"], set_=changing))


async def set_pending_plan(session: AsyncSession, stripe_subscription_id: str, plan: str | None) -> None:
    await session.execute(update(Subscription).where(Subscription.stripe_subscription_id == stripe_subscription_id)
                          .values(pending_plan=plan, updated_at=func.now()))


async def due_downgrades(session: AsyncSession, period_ends_by: datetime, limit: int) -> list[str]:
    """Stripe ids of live subscriptions with a pending downgrade whose period ends by then (system scope).

    One set to cancel at the period end is left alone: Stripe ends it instead.
    """
    query = (select(Subscription.stripe_subscription_id)
             .where(Subscription.pending_plan.is_not(None), Subscription.status.in_(LIVE),
                    Subscription.cancel_at_period_end.is_(False),
                    Subscription.current_period_end <= period_ends_by)
             .order_by(Subscription.current_period_end).limit(limit))
    return list((await session.execute(query)).scalars())


async def invoice_status(session: AsyncSession, stripe_invoice_id: str) -> str | None:
    found = await session.execute(select(Invoice.status).where(Invoice.stripe_invoice_id == stripe_invoice_id))
    return found.scalar_one_or_none()


async def count_paid_invoices(session: AsyncSession, org_id: uuid.UUID) -> int:
    found = await session.execute(select(func.count()).select_from(Invoice)
                                  .where(Invoice.org_id == org_id, Invoice.status == "paid"))
    return found.scalar_one()


async def upsert_invoice(session: AsyncSession, values: dict[str, Any]) -> None:
    statement = insert(Invoice.__table__).values(**values)
    changing = {k: statement.excluded[k] for k in ("status", "amount_due", "amount_paid", "number",
                                                   "hosted_invoice_url", "paid_at", "updated_at")}
    await session.execute(statement.on_conflict_do_update(index_elements=["stripe_invoice_id"], set_=changing))


async def list_invoices(session: AsyncSession, org_id: uuid.UUID, cursor: str | None,
                        limit: int) -> pagination.Page[Invoice]:
    query = pagination.newest_first(select(Invoice).where(Invoice.org_id == org_id), Invoice, cursor, limit)
    return pagination.page(list((await session.execute(query)).scalars()), limit)


async def add_event(session: AsyncSession, event_id: str, event_type: str, payload: dict[str, Any]) -> bool:
    """Store a received event unless its id is known; True when it is new."""
    statement = (insert(StripeEvent.__table__).values(id=event_id, type=event_type, payload=payload)
                 .on_conflict_do_nothing(index_elements=["id"]).returning(StripeEvent.__table__.c.id))
    return (await session.execute(statement)).first() is not None


async def event_for_update(session: AsyncSession, event_id: str) -> StripeEvent | None:
    query = select(StripeEvent).where(StripeEvent.id == event_id).with_for_update()
    return (await session.execute(query)).scalar_one_or_none()


async def note_event_error(session: AsyncSession, event_id: str, error: str) -> None:
    await session.execute(update(StripeEvent).where(StripeEvent.id == event_id)
                          .values(attempts=StripeEvent.attempts + 1, error=error[:2000]))


async def unhandled_events(session: AsyncSession, received_before: datetime, limit: int, *,
                           max_attempts: int) -> list[str]:
    query = (select(StripeEvent.id).where(StripeEvent.handled_at.is_(None), StripeEvent.received_at < received_before,
                                          StripeEvent.attempts < max_attempts)
             .order_by(StripeEvent.received_at).limit(limit))
    return list((await session.execute(query)).scalars())


async def delete_handled_events(session: AsyncSession, received_before: datetime, limit: int) -> int:
    """Delete up to `limit` handled events received before then (system scope); how many."""
    found = await session.execute(text("""
        delete from stripe_events where id in (
            select id from stripe_events where handled_at is not null and received_at < :before
            order by received_at limit :limit for update skip locked)
    """), {"before": received_before, "limit": limit})
    return found.rowcount


async def subscription_by_stripe_id(session: AsyncSession, stripe_subscription_id: str) -> Subscription | None:
    query = select(Subscription).where(Subscription.stripe_subscription_id == stripe_subscription_id)
    return (await session.execute(query)).scalar_one_or_none()


async def count_message(session: AsyncSession, org_id: uuid.UUID, month: datetime) -> tuple[int, bool, bool]:
    """Add one message to the month's counter: (messages, warning sent, reached sent).

    The month's first message starts the counter from the messages table (the one count of the month,
    the new message included); later ones add 1. The row stays locked until commit, so concurrent
    messages of one organization count one after the other.
    """
    row = (await session.execute(text("""
        insert into message_usage (org_id, month, messages)
        values (:org, :month, (select count(*) from messages where org_id = :org and created_at >= :since))
        on conflict (org_id, month) do update set messages = message_usage.messages + 1
        returning messages, warned_at is not null, reached_at is not null
    """), {"org": org_id, "month": month.date(), "since": month})).one()
    return row[0], row[1], row[2]


async def mark_quota_notice(session: AsyncSession, org_id: uuid.UUID, month: datetime, *, reached: bool) -> None:
    """Record that the month's warning (and, with `reached`, its quota-reached notice) was sent."""
    await session.execute(text("""
        update message_usage set warned_at = coalesce(warned_at, now()),
            reached_at = case when :reached then coalesce(reached_at, now()) else reached_at end
        where org_id = :org and month = :month
    """), {"org": org_id, "month": month.date(), "reached": reached})


async def mark_payment_failed(session: AsyncSession, org_id: uuid.UUID, now: datetime) -> None:
    """Start the grace period at the first failure; later failures do not move it."""
    await session.execute(text("update billing_customers set payment_failed_at = coalesce(payment_failed_at, :now) "
                               "where org_id = :org"), {"org": org_id, "now": now})


async def clear_payment_failure(session: AsyncSession, org_id: uuid.UUID) -> bool:
    """A paid invoice ends the grace period and any restriction; True if the organization was restricted."""
    row = (await session.execute(text("""
        update billing_customers c set payment_failed_at = null, restricted_at = null, payment_reminded_at = null
        from billing_customers before where c.org_id = :org and before.org_id = c.org_id
            and before.payment_failed_at is not null
        returning before.restricted_at is not null
    """), {"org": org_id})).first()
    return bool(row and row[0])


async def remind_unpaid(session: AsyncSession, failed_before: datetime, now: datetime
                        ) -> list[tuple[uuid.UUID, datetime]]:
    """Mark as reminded the unrestricted organizations whose payment failed before then (system scope);
    (org id, when the payment failed) of each one marked now."""
    found = await session.execute(text("""
        update billing_customers set payment_reminded_at = :now
        where payment_failed_at <= :before and restricted_at is null and payment_reminded_at is null
        returning org_id, payment_failed_at
    """), {"before": failed_before, "now": now})
    return [(row[0], row[1]) for row in found]


async def latest_unpaid_invoice(session: AsyncSession, org_id: uuid.UUID) -> Invoice | None:
    query = (select(Invoice).where(Invoice.org_id == org_id, Invoice.status.in_(("open", "uncollectible")))
             .order_by(Invoice.issued_at.desc()).limit(1))
    return (await session.execute(query)).scalar_one_or_none()


async def restrict_overdue(session: AsyncSession, failed_before: datetime, now: datetime) -> list[uuid.UUID]:
    """Restrict organizations whose payment failed before `failed_before` (system scope); their ids."""
    found = await session.execute(text("""
        update billing_customers set restricted_at = :now
        where payment_failed_at <= :before and restricted_at is null returning org_id
    """), {"before": failed_before, "now": now})
    return list(found.scalars())


_RESTRICTED_AT = text("select restricted_at from billing_customers where org_id = :org")
_RESTRICTED_AT_DRIVER = driver_sql(_RESTRICTED_AT)


def restricted_read(org_id: uuid.UUID) -> FirstRead:
    """`restricted_at` as a read a transaction can begin with."""
    return FirstRead(_RESTRICTED_AT_DRIVER, (("org", org_id),))


async def restricted_at(session: AsyncSession, org_id: uuid.UUID) -> datetime | None:
    rows = await read_rows(session, restricted_read(org_id))
    return rows[0][0] if rows else None


async def count_unhandled_events(session: AsyncSession) -> tuple[int, datetime | None]:
    """Stripe events stored and not handled yet, and when the oldest arrived (system scope)."""
    row = (await session.execute(text(
        "select count(*), min(received_at) from stripe_events where handled_at is null"))).one()
    return int(row[0]), row[1]


async def forget_trial_reminder(session: AsyncSession, stripe_subscription_id: str) -> None:
    """A trial's end moved: its reminder is due again before the new end (billing.remind_trials)."""
    await session.execute(update(Subscription).where(Subscription.stripe_subscription_id == stripe_subscription_id)
                          .values(trial_reminded_at=None))
