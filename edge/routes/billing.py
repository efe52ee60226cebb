"""Billing: the plans, the organization's subscription and invoices; Stripe's webhooks (public, signed)."""

from __future__ import annotations

import uuid
from datetime import datetime
from typing import Annotated

import msgspec
from litestar import Request, Response, Router, delete, get, patch, post
from litestar.status_codes import HTTP_200_OK

from domain.billing import plans, service as billing, webhooks
from domain.billing.limits import PlanLimits
from domain.billing.signature import verify_webhook
from domain.billing.errors import (AlreadySubscribed, InvalidWebhook, NothingToChange, PlanUnchanged, SeatsBelowPlan,
                                   SeatsInUse, SeatsWithDowngrade, SubscriptionNotFound, TrialAlreadyUsed, UnknownPlan)
from domain.commands.errors import IdempotencyKeyReused
from domain.errors import InvalidInput
from domain.db import Database
from edge.auth import Tenant
from edge.ratelimits import rate_limited
from objecta.metrics import m
from objecta.settings import Settings
from edge.routes.commands import Accepted, IdempotencyKey, accept_command
from edge.schemas import Body, Clean, Cursor, Described, Limit, out

PlanName = Annotated[str, Clean, msgspec.Meta(min_length=1, max_length=50)]
PaymentMethod = Annotated[str, msgspec.Meta(min_length=3, max_length=255, pattern=r"^pm_[A-Za-z0-9_]+$")]


class PlanOut(msgspec.Struct):
    name: str
    title: str
    price: Annotated[int, Described("In cents (of `currency`) per `interval`, the included seats too.")]
    currency: str
    interval: str
    seats: Annotated[int, Described("Seats included in the price.")]
    extra_seat_price: Annotated[int, Described("In cents per interval, for each seat beyond `seats`.")]
    agent_limit: Annotated[int | None, Described("How many agents the plan allows; null: unlimited.")]
    monthly_messages: Annotated[int | None, Described("Messages per calendar month (UTC); null: unlimited.")]
    stripe_product: str | None
    stripe_plan: str | None
    trial_days: Annotated[int, Described("A first subscription may start with a free trial this long.")]


class PlanList(msgspec.Struct):
    items: list[PlanOut]


class SubscribeBody(Body):
    plan: PlanName
    payment_method: PaymentMethod
    trial: Annotated[bool, Described("Start with the plan's free trial (once per organization); the card is "
                                     "charged when it ends.")] = False


class SubscriptionOut(msgspec.Struct):
    plan: Annotated[str, Described('The plan whose limits apply now ("free" without a live subscription).')]
    status: Annotated[str, Described('Stripe\'s status of the subscription, or "none".')]
    seats: int
    agent_limit: int | None
    monthly_messages: int | None
    stripe_subscription_id: str | None = None
    current_period_end: datetime | None = None
    cancel_at_period_end: bool = False
    pending_plan: Annotated[str | None, Described("A downgrade that takes effect at `current_period_end`.")] = None
    trial_end: Annotated[datetime | None, Described("While `trialing`: when the first charge happens.")] = None


class InvoiceOut(msgspec.Struct):
    id: uuid.UUID
    stripe_invoice_id: str
    status: str
    amount_due: int
    amount_paid: int
    currency: str
    number: str | None
    hosted_invoice_url: str | None
    period_start: datetime | None
    period_end: datetime | None
    issued_at: datetime
    paid_at: datetime | None


class InvoicePage(msgspec.Struct):
    items: list[InvoiceOut]
    next_cursor: str | None


class WebhookReceived(msgspec.Struct):
    received: bool
    duplicate: bool


@get("/plans", summary="The plans and what each includes (public)", opt=rate_limited("public"))
async def list_plans(plan_limits: PlanLimits) -> PlanList:
    return PlanList([PlanOut(name=p.name, title=p.title, price=p.price, currency=plans.CURRENCY, interval=p.interval,
                             seats=p.seats, extra_seat_price=p.extra_seat_price, agent_limit=p.agent_limit,
                             monthly_messages=p.monthly_messages, stripe_product=p.stripe_product,
                             stripe_plan=p.stripe_plan, trial_days=p.trial_days)
                     for p in plan_limits.catalog()])


@post("/subscription", status_code=202, summary="Subscribe to a paid plan (a command: the worker charges the card)",
      raises=[UnknownPlan, AlreadySubscribed, TrialAlreadyUsed, IdempotencyKeyReused])
async def subscribe(request: Request, tenant: Tenant, data: SubscribeBody,
                    idempotency_key: IdempotencyKey = None) -> Response[Accepted]:
    async def submit(session, member, idempotency):
        return await billing.request_subscription(
            session, member.principal.org_id, member.principal.user_id, plan=data.plan,
            payment_method=data.payment_method, trial=data.trial, idempotency=idempotency)
    return await accept_command(request, tenant, "billing.manage", idempotency_key, data, submit)


class PlanChange(Body):
    plan: PlanName | None = None
    seats: Annotated[int, msgspec.Meta(ge=1, le=100_000, description="All seats, the plan's included ones too.")
                     ] | None = None


@patch("/subscription", status_code=202,
       summary="Change the plan (upgrade now, downgrade at the period's end) or the seats (now), prorated; a command",
       raises=[SubscriptionNotFound, UnknownPlan, NothingToChange, SeatsBelowPlan, SeatsWithDowngrade, PlanUnchanged,
               SeatsInUse, IdempotencyKeyReused])
async def change_plan(request: Request, tenant: Tenant, data: PlanChange,
                      idempotency_key: IdempotencyKey = None) -> Response[Accepted]:
    async def submit(session, member, idempotency):
        return await billing.request_plan_change(session, member.principal.org_id, member.principal.user_id,
                                                 plan=data.plan, seats=data.seats, idempotency=idempotency)
    return await accept_command(request, tenant, "billing.manage", idempotency_key, data, submit)


@delete("/subscription", status_code=202,
        summary="Cancel at the end of the paid period (a command; the plan's limits stay until then)",
        raises=[SubscriptionNotFound, IdempotencyKeyReused])
async def cancel(request: Request, tenant: Tenant, idempotency_key: IdempotencyKey = None) -> Response[Accepted]:
    async def submit(session, member, idempotency):
        return await billing.request_cancel(session, member.principal.org_id, member.principal.user_id,
                                            idempotency=idempotency)
    return await accept_command(request, tenant, "billing.manage", idempotency_key, None, submit)


@post("/subscription/resume", status_code=202, summary="Take back a cancellation before the period ends (a command)",
      raises=[SubscriptionNotFound, IdempotencyKeyReused])
async def resume(request: Request, tenant: Tenant, idempotency_key: IdempotencyKey = None) -> Response[Accepted]:
    async def submit(session, member, idempotency):
        return await billing.request_cancel(session, member.principal.org_id, member.principal.user_id,
                                            resume=True, idempotency=idempotency)
    return await accept_command(request, tenant, "billing.manage", idempotency_key, None, submit)


@get("/subscription", summary="The organization's plan and subscription")
async def get_subscription(tenant: Tenant, plan_limits: PlanLimits) -> SubscriptionOut:
    async with tenant("billing.read") as (session, member):
        now = await plan_limits.standing(session, member.principal.org_id)
    plan, subscription = now.plan, now.subscription
    limits = dict(plan=plan.name, seats=now.seats, agent_limit=plan.agent_limit, monthly_messages=plan.monthly_messages)
    if subscription is None:
        return SubscriptionOut(status="none", **limits)
    return SubscriptionOut(
        status=subscription.status, stripe_subscription_id=subscription.stripe_subscription_id,
        current_period_end=subscription.current_period_end, cancel_at_period_end=subscription.cancel_at_period_end,
        pending_plan=subscription.pending_plan, trial_end=subscription.trial_end, **limits)


class Measure(msgspec.Struct):
    used: int
    limit: Annotated[int | None, Described("null: unlimited.")]


class UsageOut(msgspec.Struct):
    plan: str
    period_start: datetime
    seats: Measure
    agents: Measure
    messages: Annotated[Measure, Described("This calendar month (UTC).")]


@get("/usage", summary="Seats, agents and this month's messages against the plan's limits")
async def get_usage(tenant: Tenant, plan_limits: PlanLimits) -> UsageOut:
    async with tenant("billing.read") as (session, member):
        used = await plan_limits.usage(session, member.principal.org_id)
    return UsageOut(plan=used.plan.name, period_start=used.period_start,
                    seats=Measure(used=used.seats_used, limit=used.seats),
                    agents=Measure(used=used.agents_used, limit=used.plan.agent_limit),
                    messages=Measure(used=used.messages_used, limit=used.plan.monthly_messages))


@get("/invoices", summary="The organization's invoices, newest first", raises=[InvalidInput])
async def list_invoices(tenant: Tenant, cursor: Cursor = None, limit: Limit = 50) -> InvoicePage:
    async with tenant("billing.read") as (session, member):
        page = await billing.list_invoices(session, member.principal.org_id, cursor, limit)
    return out(page, InvoicePage)


@post("/stripe", status_code=HTTP_200_OK, summary="Stripe's webhook (public; verified by Stripe-Signature)",
      raises=[InvalidWebhook])
async def stripe_webhook(request: Request, db: Database, settings: Settings) -> WebhookReceived:
    # Verified before any transaction: a forged request stores and queues nothing.
    try:
        event = verify_webhook(await request.body(), request.headers.get("stripe-signature"),
                               settings.billing.webhook_secret, settings.billing.webhook_tolerance)
    except InvalidWebhook:
        m().stripe_webhooks.labels("rejected").inc()
        raise
    # No tenant is known yet: the event is stored in the system scope (docs/decisions.md, 29).
    async with db.transaction(system=True) as session:
        new = await webhooks.receive(session, event)
    m().stripe_webhooks.labels("received" if new else "duplicate").inc()
    return WebhookReceived(received=True, duplicate=not new)


billing_router = Router("/v1/billing", tags=["billing"], route_handlers=[
    list_plans, subscribe, change_plan, cancel, resume, get_subscription, get_usage, list_invoices])
webhooks_router = Router("/v1/webhooks", tags=["webhooks"], route_handlers=[stripe_webhook])
