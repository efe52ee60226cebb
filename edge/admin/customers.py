"""Customers: search every organization, open one, and what support changes (suspend, grants, notes)."""

from __future__ import annotations

import uuid
from datetime import datetime
from typing import Annotated, Any, Literal

import msgspec
from litestar import Router, get, patch
from litestar.params import Parameter

from domain.admin import customers
from domain.admin.customers import CustomerChange
from domain.admin.errors import CustomerNotFound
from domain.billing.limits import PlanLimits
from domain.errors import InvalidInput
from domain.realtime import Publisher
from edge.admin.guard import AdminCaller, audit
from edge.schemas import NO_NUL, Body, Clean, Cursor, Limit, out

Search = Annotated[str | None, Parameter(pattern=NO_NUL, max_length=254, description=(
    "A member's email, an email domain (`@acme.com` or `acme.com`) or part of the organization's name."))]
PlanFilter = Annotated[Literal["free", "starter", "pro", "enterprise"] | None, Parameter(
    description="Only organizations on this plan now.")]
StatusFilter = Annotated[Literal["active", "suspended", "trialing", "past_due"] | None, Parameter(
    description="`active`/`suspended` by suspension; `trialing`/`past_due` by subscription.")]
Reason = Annotated[str, Clean, msgspec.Meta(min_length=1, max_length=500)]


class CustomerOut(msgspec.Struct):
    id: uuid.UUID
    name: str
    created_at: datetime
    plan: str
    subscription_status: str | None
    members: int
    suspended_at: datetime | None
    suspend_reason: str | None


class CustomerPage(msgspec.Struct):
    items: list[CustomerOut]
    next_cursor: str | None


class CustomerDetail(msgspec.Struct):
    id: uuid.UUID
    name: str
    created_at: datetime
    plan: str
    subscription_status: str | None
    suspended_at: datetime | None
    suspend_reason: str | None
    extra_seats: int
    extra_agents: int
    seats_bought: int | None
    trial_end: datetime | None
    current_period_end: datetime | None
    members: list[dict[str, Any]]
    invoices: list[dict[str, Any]]
    usage: dict[str, Any]
    activity: list[dict[str, Any]]
    tickets: list[dict[str, Any]]
    notes: list[dict[str, Any]]


class CustomerPatch(Body):
    suspend: Annotated[bool | None, msgspec.Meta(description=(
        "true suspends (needs `reason`): every member is refused with 403 `organization_suspended` and their "
        "websockets close; false lifts it."))] = None
    reason: Reason | None = None
    extra_seats: Annotated[int, msgspec.Meta(ge=0, le=100_000, description="Seats on top of the plan's.")] | None = None
    extra_agents: Annotated[int, msgspec.Meta(ge=0, le=100_000,
                                              description="Agents on top of the plan's limit.")] | None = None
    note: Annotated[str, Clean, msgspec.Meta(min_length=1, max_length=5000, description=(
        "An internal note (never shown to the customer)."))] | None = None


class Changed(msgspec.Struct):
    changed: list[str]


def _detail(found: dict[str, Any]) -> CustomerDetail:
    tickets = [{"id": t.id, "subject": t.subject, "status": t.status, "priority": t.priority,
                "created_at": t.created_at} for t in found["tickets"]]
    return out({**found, "tickets": tickets, "seats_bought": found.get("quantity")}, CustomerDetail)


@get("/", summary="Search organizations (keyset pages, newest first)", raises=[InvalidInput],
     opt=audit("customers.search", "organization"))
async def search(admin: AdminCaller, q: Search = None, plan: PlanFilter = None, status: StatusFilter = None,
                 cursor: Cursor = None, limit: Limit = 50) -> CustomerPage:
    async with admin("customers.read") as (session, _, entry):
        entry.details = {"q": q, "plan": plan, "status": status}
        page = await customers.search(session, q=q, plan=plan, status=status, cursor=cursor, limit=limit)
    return CustomerPage([out(row, CustomerOut) for row in page.items], page.next_cursor)


@get("/{org_id:uuid}", summary="One organization: members, subscription, invoices, usage, activity, tickets",
     raises=[CustomerNotFound], opt=audit("customers.read", "organization", resource="org_id", org="org_id"))
async def detail(admin: AdminCaller, plan_limits: PlanLimits, org_id: uuid.UUID) -> CustomerDetail:
    async with admin("customers.read") as (session, _, _entry):
        found = await customers.detail(session, org_id, plan_limits)
    return _detail(found)


@patch("/{org_id:uuid}", summary="Suspend or unsuspend, grant extra seats or agents, add an internal note",
       raises=[CustomerNotFound, InvalidInput],
       opt=audit("customers.update", "organization", resource="org_id", org="org_id"))
async def update(admin: AdminCaller, publisher: Publisher, org_id: uuid.UUID, data: CustomerPatch) -> Changed:
    if data.suspend and not data.reason:
        raise InvalidInput("suspending needs a reason", details={"field": "reason"})
    # Suspension and grants each need their own permission; a note any admin may add.
    needed = ["customers.note"]
    if data.suspend is not None:
        needed.append("customers.suspend")
    if data.extra_seats is not None or data.extra_agents is not None:
        needed.append("customers.grant")
    change = CustomerChange(suspend_reason=data.reason if data.suspend else None, unsuspend=data.suspend is False,
                            extra_seats=data.extra_seats, extra_agents=data.extra_agents, note=data.note)
    async with admin(*needed) as (session, who, entry):
        entry.details = {k: v for k, v in msgspec.to_builtins(data).items() if v is not None}
        done = await customers.change(session, publisher, who.id, org_id, change)
    return Changed(done)


customers_router = Router("/admin/v1/customers", tags=["admin"], route_handlers=[search, detail, update])
