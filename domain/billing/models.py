from __future__ import annotations

import uuid
from datetime import datetime
from typing import Any

from sqlalchemy import DateTime
from sqlalchemy.dialects.postgresql import JSONB
from sqlalchemy.orm import Mapped, mapped_column

from domain.models import Base, Identified, Timestamped, utcnow

# Statuses in which the plan's limits apply (past_due keeps them while Stripe retries the card).
LIVE = ("active", "trialing", "past_due")


class BillingCustomer(Base):
    """The organization's customer at Stripe, recorded as soon as Stripe returns it."""

    __tablename__ = "billing_customers"
    org_id: Mapped[uuid.UUID] = mapped_column(primary_key=True)
    stripe_customer_id: Mapped[str]
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), default=utcnow)
    payment_failed_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
    restricted_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
    payment_reminded_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))


class Subscription(Identified, Timestamped, Base):
    __tablename__ = "subscriptions"
    org_id: Mapped[uuid.UUID]
    stripe_subscription_id: Mapped[str]
    stripe_customer_id: Mapped[str]
    plan: Mapped[str]
    status: Mapped[str]
    quantity: Mapped[int]
    current_period_end: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
    cancel_at_period_end: Mapped[bool]
    pending_plan: Mapped[str | None]  # a downgrade applied when the period ends (docs/billing.md)
    trial_end: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
    trial_reminded_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
    updated_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), default=utcnow)

    @property
    def live(self) -> bool:
        return self.status in LIVE


class Invoice(Identified, Timestamped, Base):
    __tablename__ = "invoices"
    org_id: Mapped[uuid.UUID]
    stripe_invoice_id: Mapped[str]
    stripe_subscription_id: Mapped[str | None]
    status: Mapped[str]
    amount_due: Mapped[int]
    amount_paid: Mapped[int]
    currency: Mapped[str]
    number: Mapped[str | None]
    hosted_invoice_url: Mapped[str | None]
    period_start: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
    period_end: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
    issued_at: Mapped[datetime] = mapped_column(DateTime(timezone=True))
    paid_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
    updated_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), default=utcnow)


class StripeEvent(Base):
    """A webhook event as Stripe signed it; `handled_at` is set by the worker that acted on it."""

    __tablename__ = "stripe_events"
    id: Mapped[str] = mapped_column(primary_key=True)
    type: Mapped[str]
    payload: Mapped[dict[str, Any]] = mapped_column(JSONB)
    received_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), default=utcnow)
    handled_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
    attempts: Mapped[int] = mapped_column(default=0)
    error: Mapped[str | None]
