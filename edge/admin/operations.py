"""Broadcasts to customers and the audit log (read and export)."""

from __future__ import annotations

import csv
import io
import uuid
from datetime import datetime
from typing import Annotated, Any, Literal

import msgspec
from litestar import Response, Router, get, post
from litestar.params import Parameter
from litestar.status_codes import HTTP_200_OK

from domain.admin import audit as audit_log
from domain.admin import repository as admin_repository
from domain.errors import InvalidInput
from domain.notifications import service as notifications
from edge.admin.guard import AdminCaller, audit
from edge.schemas import NO_NUL, Body, Clean

Headline = Annotated[str, Clean, msgspec.Meta(min_length=1, max_length=200)]
Message = Annotated[str, Clean, msgspec.Meta(min_length=1, max_length=5000)]
PlanName = Literal["free", "starter", "pro", "enterprise"]
AuditLimit = Annotated[int, Parameter(ge=1, le=1000, description="Rows per page at most.")]
Action = Annotated[str | None, Parameter(pattern=NO_NUL, max_length=100, description="Only this action.")]
Before = Annotated[int | None, Parameter(ge=1, description="The `next_cursor` of the previous page.")]


class BroadcastBody(Body):
    type: Annotated[Literal["system.maintenance", "system.update", "system.downtime"], msgspec.Meta(
        description="The notification type members receive (in-app; by email as their preferences say).")]
    message: Message
    headline: Headline | None = None
    window: Annotated[str, Clean, msgspec.Meta(min_length=1, max_length=200, description=(
        "When, for maintenance: e.g. `Sunday 02:00-03:00 UTC`."))] | None = None
    organizations: Annotated[list[uuid.UUID], msgspec.Meta(max_length=10_000, description=(
        "Only these organizations; with `plans`, the organizations in either."))] | None = None
    plans: Annotated[list[PlanName], msgspec.Meta(max_length=4, description=(
        "Only organizations on these plans."))] | None = None


class BroadcastOut(msgspec.Struct):
    broadcast_id: uuid.UUID
    organizations: Annotated[int | None, msgspec.Meta(description="How many organizations; null for all of them.")]


class AuditOut(msgspec.Struct):
    seq: int
    id: uuid.UUID
    created_at: datetime
    admin_id: uuid.UUID | None
    admin_email: str | None
    action: str
    resource_type: str | None
    resource_id: str | None
    org_id: uuid.UUID | None
    ip: str | None
    user_agent: str | None
    request_id: str | None
    outcome: str
    status_code: int | None
    details: dict[str, Any]
    hash: str


class AuditPage(msgspec.Struct):
    items: list[AuditOut]
    next_cursor: int | None


# 200, not 202: a 202 here means a command with an Idempotency-Key (docs/decisions.md, 41); a broadcast is
# queued for the notifications pool, and a retried request sends it again (docs/admin.md).
@post("/broadcasts", status_code=HTTP_200_OK,
      summary="Notify every member of all (or the chosen) organizations: maintenance, update, downtime "
              "(fanned out by the notifications pool after this answer)",
      opt=audit("broadcasts.send", "broadcast"))
async def broadcast(admin: AdminCaller, data: BroadcastBody) -> BroadcastOut:
    async with admin("broadcasts.send") as (session, _, entry):
        org_ids = None
        if data.organizations is not None or data.plans is not None:
            chosen = set(data.organizations or [])
            if data.plans:
                chosen |= set(await admin_repository.organizations_on_plans(session, list(data.plans)))
            org_ids = sorted(chosen)
        payload = {"message": data.message, "headline": data.headline or "", "window": data.window or ""}
        broadcast_id = notifications.broadcast(session, data.type, payload, org_ids)
        entry.resource_id = str(broadcast_id)
        entry.details = {"type": data.type, "plans": data.plans, "organizations": len(org_ids) if org_ids is not None
                         else "all", "message": data.message[:200]}
    return BroadcastOut(broadcast_id, len(org_ids) if org_ids is not None else None)


def _filters(admin_id, org_id, action, since, until):
    if since and until and since >= until:
        raise InvalidInput("since must be before until", details={"field": "since"})
    return {"admin_id": admin_id, "org_id": org_id, "action": action, "since": since, "until": until}


@get("/audit-logs", summary="The admin audit log, newest first, filtered by admin, organization, action, time",
     raises=[InvalidInput], opt=audit("audit.read", "audit_log"))
async def audit_logs(admin: AdminCaller, admin_id: uuid.UUID | None = None, org_id: uuid.UUID | None = None,
                     action: Action = None, since: datetime | None = None, until: datetime | None = None,
                     cursor: Before = None, limit: AuditLimit = 100) -> AuditPage:
    async with admin("audit.read") as (session, _, entry):
        entry.details = {"org_id": org_id, "admin_id": admin_id, "action": action}
        rows = await audit_log.entries(session, **_filters(admin_id, org_id, action, since, until), before=cursor,
                                       limit=limit + 1)
    more = len(rows) > limit
    rows = rows[:limit]
    return AuditPage([msgspec.convert(r, AuditOut, from_attributes=True) for r in rows],
                     rows[-1].seq if more else None)


COLUMNS = [field for field in AuditOut.__struct_fields__]


@get("/audit-logs/export", summary="The filtered audit log as CSV (up to 100,000 rows, newest first)",
     raises=[InvalidInput], media_type="text/csv", opt=audit("audit.export", "audit_log"))
async def export(admin: AdminCaller, admin_id: uuid.UUID | None = None, org_id: uuid.UUID | None = None,
                 action: Action = None, since: datetime | None = None, until: datetime | None = None) -> Response:
    async with admin("audit.read") as (session, _, entry):
        entry.details = {"org_id": org_id, "admin_id": admin_id, "action": action}
        rows = await audit_log.entries(session, **_filters(admin_id, org_id, action, since, until), limit=100_000)
    buffer = io.StringIO()
    writer = csv.writer(buffer)
    writer.writerow(COLUMNS)
    for row in rows:
        writer.writerow([msgspec.json.encode(getattr(row, c)).decode() if c == "details" else getattr(row, c)
                         for c in COLUMNS])
    return Response(buffer.getvalue(), media_type="text/csv",
                    headers={"Content-Disposition": 'attachment; filename="admin-audit.csv"'})


operations_router = Router("/admin/v1", tags=["admin"], route_handlers=[broadcast, audit_logs, export])
