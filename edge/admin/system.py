"""The dashboard and system health: read-only, for every admin, audited like every admin read."""

from __future__ import annotations

import uuid
from datetime import datetime, timezone
from typing import Annotated, Any

import msgspec
from litestar import Router, get

from domain.admin import dashboard
from edge.admin.guard import AdminCaller, audit
from objecta import health
from objecta.health import HealthReport
from objecta.settings import Settings


class OrganizationFigures(msgspec.Struct):
    total: int
    new_this_week: Annotated[int, msgspec.Meta(description="Created since Monday 00:00 UTC.")]
    active_7_days: Annotated[int, msgspec.Meta(description=(
        "Sent a command, had a team or billing change logged, or a message in a conversation, in 7 days."))]
    active_30_days: int
    suspended: int


class Revenue(msgspec.Struct):
    mrr: Annotated[int, msgspec.Meta(description=(
        "Cents per month: catalog price of every `active` or `past_due` subscription (seats included)."))]
    past_due_mrr: Annotated[int, msgspec.Meta(description="The part of `mrr` whose payment failed.")]
    trial_mrr: Annotated[int, msgspec.Meta(description="What trialing subscriptions would add; not in `mrr`.")]
    currency: str
    paying_organizations: int
    trialing_organizations: int


class OrganizationBilling(msgspec.Struct):
    org_id: uuid.UUID
    name: str
    plan: str
    quantity: int
    trial_end: datetime | None
    current_period_end: datetime | None


class TrialsEnding(msgspec.Struct):
    next_7_days: int
    organizations: Annotated[list[OrganizationBilling], msgspec.Meta(description="The 20 soonest.")]


class PastDue(msgspec.Struct):
    organizations_count: int
    organizations: Annotated[list[OrganizationBilling], msgspec.Meta(description="The first 20.")]


class TicketFigures(msgspec.Struct):
    open: int
    pending: int
    unassigned: Annotated[int, msgspec.Meta(description="Open or pending, with nobody assigned.")]


class HealthSummary(msgspec.Struct):
    status: Annotated[str, msgspec.Meta(description="ok, degraded or down (`GET /admin/v1/system/health`).")]
    problems: list[str]


class Dashboard(msgspec.Struct):
    generated_at: datetime
    organizations: OrganizationFigures
    revenue: Revenue
    trials_ending: TrialsEnding
    past_due: PastDue
    tickets: TicketFigures
    health: HealthSummary


@get("/dashboard", summary="Organizations, MRR, trials ending, past due, tickets and the health summary",
     opt=audit("dashboard.read"))
async def show_dashboard(admin: AdminCaller, settings: Settings) -> Dashboard:
    now = datetime.now(timezone.utc)
    async with admin("dashboard.read") as (session, _, _entry):
        found: dict[str, Any] = await dashboard.figures(session, now)
        report = await health.report(settings, session)
    found["health"] = {"status": report.status, "problems": report.problems}
    return msgspec.convert({**found, "generated_at": now}, Dashboard, from_attributes=True)


@get("/system/health", summary="Dependencies, queues, workers, scheduler, relay, Stripe events, failed commands",
     description="The same report as `objecta status --json`. `oldest_age_seconds` is null on RabbitMQ (it cannot "
                 "be read without consuming) and for an empty queue; `overdue` is null for an entry that never ran.",
     opt=audit("system.health"))
async def system_health(admin: AdminCaller, settings: Settings) -> HealthReport:
    async with admin("system.read") as (session, _, _entry):
        return await health.report(settings, session)


system_router = Router("/admin/v1", tags=["admin"], route_handlers=[show_dashboard, system_health])
