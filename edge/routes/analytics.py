"""Analytics: send events (a person's token or an organization API key), today's counters, the reports."""

from __future__ import annotations

import uuid
from datetime import date, datetime, timezone
from typing import Annotated, Any, Literal

import msgspec
from litestar import Request, Response, Router, get, post
from litestar.params import Parameter
from litestar.status_codes import HTTP_202_ACCEPTED

from domain.analytics import reports
from domain.analytics import service as analytics
from domain.analytics.counters import HotCounters
from domain.analytics.errors import InvalidApiKey, InvalidEvents, InvalidPeriod, PartitionMissing
from domain.analytics.models import (MAX_BATCH_BYTES, MAX_EVENT_ID_LENGTH, MAX_EVENTS, MAX_FUTURE_SECONDS,
                                     MAX_PROPERTIES_BYTES, MAX_REPORT_DAYS, NAME_PATTERN)
from domain.ratelimit import Check, RateLimiter
from edge.auth import EventSender, Tenant, bearer_token
from edge.event_batch import EventsRequest
from edge.ratelimits import enforce
from edge.schemas import Body, Clean
from objecta.settings import AnalyticsSettings, Settings

EventId = Annotated[str, Clean, msgspec.Meta(
    min_length=1, max_length=MAX_EVENT_ID_LENGTH,
    description="Your idempotency key for this event, unique in your organization: an event sent again with the "
                "same event_id (a retry, a concurrent duplicate, with or without occurred_at) is accepted and "
                "stored and counted once.")]
EventName = Annotated[str, msgspec.Meta(
    pattern=NAME_PATTERN, description="A letter, then up to 99 letters, digits, `_`, `.`, `:` or `-`. "
                                      "`message.created`, `conversation.created`, `agent.deployed` and "
                                      "`agent.error` are reserved for events the platform emits.")]
OccurredAt = Annotated[datetime, msgspec.Meta(
    tz=True, description=f"When it happened, with a time zone; at most {MAX_FUTURE_SECONDS // 60} minutes ahead "
                         "of the server's clock and not older than the retention (ANALYTICS_RETENTION_DAYS, default "
                         "90 days). Omitted: when the server received it.")]
Properties = Annotated[dict[str, Any], msgspec.Meta(
    description=f"Any JSON object, at most {MAX_PROPERTIES_BYTES} bytes encoded.")]


class EventIn(Body):
    event_id: EventId
    name: EventName
    agent_id: Annotated[uuid.UUID | None, msgspec.Meta(description="One of your organization's agents.")] = None
    occurred_at: OccurredAt | None = None
    properties: Properties | None = None


class EventBatch(Body):
    events: Annotated[list[EventIn], msgspec.Meta(
        min_length=1, max_length=MAX_EVENTS,
        description=f"1 to {MAX_EVENTS} events; the request body may be at most {MAX_BATCH_BYTES // 2**20} MiB.")]


class EventsAccepted(msgspec.Struct):
    accepted: int  # every event of the batch, duplicates included
    batch_id: uuid.UUID


class _EventsRequest(EventsRequest):
    shape = EventBatch


async def check_batch_shape(request: Request) -> None:
    """Before the body is bound: a malformed batch is a 422 naming every bad event by index and field."""
    bearer_token(request)  # no token: 401 before anything about the body
    await request.json()  # decoded once, cached for the binding of `data` (edge/event_batch.py)


@post("/events", status_code=HTTP_202_ACCEPTED, before_request=check_batch_shape, request_class=_EventsRequest,
      request_max_body_size=MAX_BATCH_BYTES, tags=["analytics"], raises=[InvalidEvents, InvalidApiKey],
      summary="Send a batch of events (a person's bearer token or an organization API key)",
      description="Accepted whole (202) or refused whole (422 `invalid_events`, `details.events` naming each bad "
                  "event by `index` and `field`; index -1 is the batch itself). Send with "
                  "`Authorization: Bearer obk_...` from a server. A 202 means the events are stored; they are "
                  "counted in `realtime` within about a second. `accepted` counts duplicates too. Retrying is "
                  "safe without an Idempotency-Key: each event's `event_id` is its idempotency key.")
async def send_events(event_sender: EventSender, analytics_settings: AnalyticsSettings, rate_limiter: RateLimiter,
                      settings: Settings, data: EventBatch) -> EventsAccepted:
    # `data.events` are edge.event_batch.WireEvent: the contract's fields, `properties` as raw JSON.
    try:
        return await _accept(event_sender, analytics_settings, rate_limiter, settings, data, limit=True)
    except PartitionMissing:
        # A month this process believed had its partition did not (dropped, or its create rolled back):
        # nothing was stored, and accepting again creates it.
        return await _accept(event_sender, analytics_settings, rate_limiter, settings, data, limit=False)


async def _accept(event_sender: EventSender, analytics_settings: AnalyticsSettings, rate_limiter: RateLimiter,
                  settings: Settings, data: EventBatch, *, limit: bool) -> EventsAccepted:
    async with event_sender() as (session, sender):
        if limit and event_sender.principal is None:  # an API key: its organization is known only now
            requests, window = settings.rate_limits["events_per_org"]  # (edge/ratelimits.py)
            await enforce(rate_limiter, [Check("events_per_org", f"org:{sender.org_id}", requests, window)])
        accepted = await analytics.accept_batch(session, sender, data.events,
                                                retention_days=analytics_settings.retention_days)
    return EventsAccepted(accepted.accepted, accepted.batch_id)


class Realtime(msgspec.Struct):
    day: date  # UTC
    events: int
    messages: int
    conversations: int
    errors: int
    deploys: int
    active_agents: int
    by_name: dict[str, int]
    by_agent: dict[str, int]  # agent id → events


class DailyReport(msgspec.Struct):
    first: date = msgspec.field(name="from")
    last: date = msgspec.field(name="to")
    days: list[date] = []
    series: dict[str, list[int]] = {}  # metric → one value per day of `days`


class AgentRow(msgspec.Struct):
    agent_id: uuid.UUID
    name: str | None  # None once the agent is deleted
    events: int
    messages: int
    conversations: int
    errors: int
    deploys: int
    active_days: int
    last_event_at: datetime


class AgentsReport(msgspec.Struct):
    first: date = msgspec.field(name="from")
    last: date = msgspec.field(name="to")
    items: list[AgentRow] = []


def _today() -> date:
    return datetime.now(timezone.utc).date()


def _wants_csv(request: Request) -> bool:
    return "text/csv" in (request.headers.get("accept") or "")


From = Annotated[date | None, Parameter(query="from", required=False,
                                        description="First UTC day (default: 29 days before `to`).")]
To = Annotated[date | None, Parameter(query="to", required=False, description="Last UTC day (default: today). "
                                      f"At most {MAX_REPORT_DAYS} days from `from`.")]


@get("/realtime", summary="Today so far (UTC), from the hot counters",
     description="Then listen to `analytics.counters` on the relay (at most about once a second while events "
                 "arrive). Rebuilt from the stored events when the counters were lost.")
async def realtime(tenant: Tenant, counters: HotCounters) -> Realtime:
    async with tenant("analytics.read") as (session, member):
        return msgspec.convert(await analytics.realtime(session, counters, member.principal.org_id, _today()),
                               Realtime)


@get("/daily", summary="Every day's metrics (JSON, or CSV with Accept: text/csv)", raises=[InvalidPeriod],
     description="A zero-filled series per metric (events, messages, conversations, errors, deploys, "
                 "active_agents) for each UTC day rolled up (nightly at 2 AM UTC, or `objecta aggregate`); "
                 "today is in `realtime`.")
async def daily(request: Request, tenant: Tenant, first: From = None, last: To = None) -> Response[DailyReport]:
    async with tenant("analytics.read") as (session, member):
        report = await reports.daily_report(session, member.principal.org_id, reports.period(first, last, _today()))
    if _wants_csv(request):
        return Response(reports.daily_csv(report), media_type="text/csv")
    return Response(DailyReport(report["from"], report["to"], report["days"], report["series"]))


AgentSort = Literal[tuple(f"{sign}{column}" for column in reports.repository.AGENT_SORTS for sign in ("", "-"))]


@get("/agents", summary="One row per agent over a period (JSON, or CSV with Accept: text/csv)", raises=[InvalidPeriod],
     description="Events, messages, conversations, errors, deploys, active days and the last event per agent "
                 "with events in the period, sorted by `sort` (a column; `-column` for descending).")
async def agents(request: Request, tenant: Tenant, first: From = None, last: To = None,
                 sort: Annotated[AgentSort, Parameter(required=False)] = "-events",  # type: ignore[valid-type]
                 ) -> Response[AgentsReport]:
    async with tenant("analytics.read") as (session, member):
        days = reports.period(first, last, _today())
        rows = await reports.agents_report(session, member.principal.org_id, days, sort)
    if _wants_csv(request):
        return Response(reports.agents_csv(rows), media_type="text/csv")
    return Response(AgentsReport(days.first, days.last, [AgentRow(**row) for row in rows]))


events_router = Router("/v1", route_handlers=[send_events])
analytics_router = Router("/v1/analytics", tags=["analytics"], route_handlers=[realtime, daily, agents])
