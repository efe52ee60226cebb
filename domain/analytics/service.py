"""Events: accepted whole or not at all, stored once, counted once.

    POST /v1/events → accept_batch (rules; store the new events and the batch row
                      recording what was new, one statement; enqueue INGEST)
    events worker   → carried / ingest (what was new: from the message, or read from the batch row)
                    → count (one Redis script: counters, hourly per agent, push throttle)
                    → finish (agent.high_traffic, analytics.counters, delete the batch row)

Every step can be repeated after a crash: the counts come from the message
(or the row), `count` finds the batch's marker in Redis, and `finish`
records alerts once per agent and hour in Postgres. The batch row is the
durable promise that a stored batch gets counted (decisions 54, 124, 125).
"""

from __future__ import annotations

import uuid
from collections.abc import Sequence
from datetime import date, datetime, time, timedelta, timezone
from typing import Any, Protocol

import msgspec
from sqlalchemy.exc import DBAPIError
from sqlalchemy.ext.asyncio import AsyncSession

from domain import jobs
from domain.analytics import repository
from domain.analytics.counters import MARKER_TTL, Counted, HotCounters
from domain.analytics.errors import InvalidEvents, PartitionMissing
from domain.analytics.models import (AGENT_ERROR, CONVERSATION, DEPLOY, MAX_FUTURE_SECONDS, MAX_PROPERTIES_BYTES,
                                     MESSAGE, PLATFORM_EVENTS, Accepted, Ingested, Sender, StoredEvent)
from domain.db import FirstRead
from domain.models import utcnow
from domain.notifications import service as notifications
from domain.realtime import Publisher, org_channel, publish_after_commit

INGEST = jobs.JobKind("analytics.ingest", queue="events")

_encode = msgspec.json.Encoder().encode


class EventLike(Protocol):
    """An event whose shape the edge has checked (edge/routes/analytics.py)."""

    event_id: str
    name: str
    agent_id: uuid.UUID | None
    occurred_at: datetime | None
    properties: msgspec.Raw  # a JSON object as sent, or `null`: stored as it is, never decoded


def problem(index: int, field: str, message: str) -> dict[str, Any]:
    return {"index": index, "field": field, "message": message}


def refuse(problems: list[dict[str, Any]], total: int) -> InvalidEvents:
    return InvalidEvents(f"{len({p['index'] for p in problems})} of {total} events are invalid; "
                         "nothing was stored", details={"events": problems})


async def accept_batch(session: AsyncSession, sender: Sender, events: Sequence[EventLike], *,
                       retention_days: int, now: datetime | None = None) -> Accepted:
    """Check a batch's rules and store its new events; the events worker counts them after commit.

    Refused whole (InvalidEvents, naming each bad event by index and field)
    or accepted whole. Duplicates of an `event_id`, within the batch or with
    an earlier one, are accepted and stored once. PartitionMissing: nothing
    was stored, and accepting the batch again creates the months' partitions.
    """
    now = now or utcnow()
    earliest, latest = now - timedelta(days=retention_days), now + timedelta(seconds=MAX_FUTURE_SECONDS)
    problems: list[dict[str, Any]] = []
    for index, event in enumerate(events):
        if event.name in PLATFORM_EVENTS:
            problems.append(problem(index, "name", f"{event.name!r} is reserved for events the platform emits"))
        if event.occurred_at is not None and event.occurred_at > latest:
            problems.append(problem(index, "occurred_at",
                                    f"more than {MAX_FUTURE_SECONDS // 60} minutes in the future"))
        elif event.occurred_at is not None and event.occurred_at < earliest:
            problems.append(problem(index, "occurred_at", f"older than the retention ({retention_days} days)"))
        size = _encoded_size(event.properties)
        if size > MAX_PROPERTIES_BYTES:
            problems.append(problem(index, "properties", f"{size} bytes encoded; at most {MAX_PROPERTIES_BYTES}"))
    agents = {event.agent_id for event in events if event.agent_id is not None}
    if agents:
        unknown = agents - await repository.known_agents(session, agents)
        problems += [problem(index, "agent_id", "no such agent in this organization")
                     for index, event in enumerate(events) if event.agent_id in unknown]
    if problems:
        raise refuse(sorted(problems, key=lambda p: p["index"]), len(events))

    unique: dict[str, StoredEvent] = {}
    for event in events:
        if event.event_id not in unique:
            unique[event.event_id] = StoredEvent(event.event_id, event.name, event.agent_id, event.occurred_at or now,
                                                 event.properties)
    batch_id = uuid.uuid4()
    await _store(session, batch_id, sender.org_id, now, [unique[key] for key in sorted(unique)])
    return Accepted(batch_id, len(events))


def _encoded_size(properties: msgspec.Raw) -> int:
    """Bytes of the properties encoded compactly. The JSON as sent is never shorter, so it is
    re-encoded only when it is over the limit (spaces a client added are not held against it)."""
    size = len(properties)
    if size > MAX_PROPERTIES_BYTES:
        size = len(_encode(msgspec.json.decode(properties)))
    return size


# Months whose partition this process has seen exist: a memo, so that only the first batch of a
# month pays for `analytics_ensure_partition` (idempotent), run in the storing transaction. The
# daily maintenance creates this month's and the next ahead; an older event, or a stack whose
# maintenance did not run, needs its month created first. A month dropped or never committed after
# all (a rolled-back create) fails the store once: it leaves the memo and the caller tries again.
_months_with_partition: set[date] = set()


async def _store(session: AsyncSession, batch_id: uuid.UUID, org_id: uuid.UUID, now: datetime,
                 events: list[StoredEvent]) -> None:
    """Store the new events (in event_id order: see repository.STORE) and enqueue their counting."""
    months = _months(events)
    for month in sorted(months - _months_with_partition):
        await repository.ensure_partition(session, month)
    try:
        counts = await repository.store_batch(session, batch_id=batch_id, org_id=org_id, received_at=now,
                                              event_count=len(events), events=_encode(events).decode())
    except DBAPIError as error:
        if _no_partition(error):
            _months_with_partition.difference_update(months)
            raise PartitionMissing(sorted(months)) from error
        raise
    _months_with_partition.update(months)
    await _mark_late_days(session, org_id, counts, now.date())
    # The counts ride along, so the worker need not read them back (`carried`).
    # No org_id option: like notification deliveries (decision 42) a batch takes milliseconds, and
    # the per-organization cap would send a busy organization's batches through the delay queue.
    jobs.enqueue(session, INGEST, str(batch_id), str(org_id), counts)


def _no_partition(error: DBAPIError) -> bool:
    return getattr(error.orig, "sqlstate", None) == "23514" and "no partition" in str(error.orig)


def _month(moment: datetime) -> date:
    return moment.astimezone(timezone.utc).date().replace(day=1)


def _months(events: list[StoredEvent]) -> set[date]:
    """The months (UTC) the events fall in. A batch is nearly always within one month: the earliest and
    the latest tell, for a fraction of what converting 1,000 timestamps costs (~0.7 ms) on the hot path."""
    first = min(event.occurred_at for event in events)
    last = max(event.occurred_at for event in events)
    if _month(first) == _month(last):
        return {_month(first)}
    return {_month(event.occurred_at) for event in events}


async def _mark_late_days(session: AsyncSession, org_id: uuid.UUID, counts: list[list], today: date) -> None:
    """Days before today that got new events are rolled up again (they may be aggregated already)."""
    past = {row[0] for row in counts if row[0] < today.isoformat()}
    if past:
        await repository.mark_stale(session, org_id, past)


async def emit(session: AsyncSession, org_id: uuid.UUID, name: str, *, subject: Any,
               agent_id: uuid.UUID | None) -> None:
    """An event the platform itself knows about (a message, a conversation, a deploy, an agent error).

    Stored as a batch of one in the caller's transaction, so it exists
    exactly when the change does; its event_id derives from the subject, so
    a repeated emit is stored once.
    """
    event = StoredEvent(f"{name}:{subject}", name, agent_id, utcnow())
    await _store(session, uuid.uuid4(), org_id, event.occurred_at, [event])


def carried(batch_id: uuid.UUID, org_id: uuid.UUID, counts: list[list] | None,
            age_seconds: float | None) -> Ingested | None:
    """What a batch stored, as its message carries it: no transaction to read the batch row.

    Counting twice is prevented by the Redis marker (`count`), which lives
    MARKER_TTL. A message older than half of that, or one without counts (the
    sweeper's, an older edge's), is answered None: read the row (`ingest`),
    whose absence says the batch is finished.
    """
    if counts is None or age_seconds is None or age_seconds > MARKER_TTL / 2:
        return None
    return Ingested(batch_id, org_id, counts)


async def ingest(session: AsyncSession, batch_id: uuid.UUID, *, today: date) -> Ingested | None:
    """What a batch stored, for the counters (the events worker). None if the batch is gone (finished)."""
    batch = await repository.lock_batch(session, batch_id)
    if batch is None:
        return None
    if batch.ingested_at is not None:  # stored at accept (or by an earlier delivery)
        return Ingested(batch_id, batch.org_id, batch.counts)
    # A durable copy written by an edge from before decision 124: expand it here.
    try:
        counts = await repository.store_events(session, batch_id=batch_id, org_id=batch.org_id,
                                               received_at=batch.received_at)
    except DBAPIError as error:
        if _no_partition(error):
            raise PartitionMissing([]) from error  # the worker asks `missing_months` in a fresh transaction
        raise
    await _mark_late_days(session, batch.org_id, counts, today)
    return Ingested(batch_id, batch.org_id, counts)


async def missing_months(session: AsyncSession, batch_id: uuid.UUID) -> list[date]:
    """The months of a batch kept as a copy (those without a partition among them)."""
    return await repository.batch_months(session, batch_id)


async def create_partitions(session: AsyncSession, months: Sequence[date]) -> list[str]:
    """Make sure each month has its partition (system scope)."""
    return [await repository.ensure_partition(session, month) for month in months]


async def count(counters: HotCounters, batch: Ingested, today: date) -> Counted:
    """Add a stored batch to the hot counters once; status "rebuild" asks for `rebuild_day` first."""
    return await counters.add(str(batch.org_id), str(batch.batch_id), today, batch.counts)


def day_bounds(day: date) -> tuple[datetime, datetime]:
    start = datetime.combine(day, time(), tzinfo=timezone.utc)
    return start, start + timedelta(days=1)


async def rebuild_day(session: AsyncSession, counters: HotCounters, org_id: uuid.UUID, day: date) -> dict[str, str]:
    """Rebuild a day's counters from `analytics_events` (Redis lost them, or the day is new to Redis).

    One snapshot gives both the counts and the batches stored but not yet
    deleted; those are marked counted with the rebuilt values, so their
    worker does not add them a second time.
    """
    counts, pending = await repository.day_so_far(session, org_id, *day_bounds(day))
    fields: dict[str, int] = {"events": 0}
    for name, agent, n in counts:
        fields["events"] += n
        fields[f"n:{name}"] = fields.get(f"n:{name}", 0) + n
        if agent:
            fields[f"a:{agent}"] = fields.get(f"a:{agent}", 0) + n
    await counters.rebuild(str(org_id), day, fields, pending)
    return {key: str(value) for key, value in fields.items()}


def realtime_view(day: date, fields: dict[str, str]) -> dict[str, Any]:
    """What the dashboard shows for today, from the counters' hash."""
    by_name = {key[2:]: int(value) for key, value in fields.items() if key.startswith("n:")}
    by_agent = {key[2:]: int(value) for key, value in fields.items() if key.startswith("a:")}
    return {"day": day.isoformat(), "events": int(fields.get("events", 0)),
            "messages": by_name.get(MESSAGE, 0), "conversations": by_name.get(CONVERSATION, 0),
            "errors": by_name.get(AGENT_ERROR, 0), "deploys": by_name.get(DEPLOY, 0),
            "active_agents": len(by_agent), "by_name": by_name, "by_agent": by_agent}


async def realtime(session: AsyncSession, counters: HotCounters, org_id: uuid.UUID, today: date) -> dict[str, Any]:
    """Today so far from the hot counters, rebuilt from Postgres first when Redis does not have them."""
    fields = await counters.today(str(org_id), today)
    if fields is None:
        await rebuild_day(session, counters, org_id, today)
        # Read back what Redis holds: a concurrent rebuild or batch may have written first.
        fields = await counters.today(str(org_id), today) or {}
    return realtime_view(today, fields)


def finish_first(batch_id: uuid.UUID) -> FirstRead:
    """What `finish` runs first, for its transaction to begin with (one round trip fewer per batch)."""
    return repository.delete_batch_first(batch_id)


async def finish(session: AsyncSession, publisher: Publisher, batch: Ingested, counted: Counted, *,
                 today: date, high_traffic_per_hour: int) -> int:
    """After counting: raise agent.high_traffic where an hour crossed the threshold, push the counters
    (when due), and delete the batch row: the batch is done. Returns how many alerts were raised."""
    raised = 0
    for hour in counted.hours:
        if not (hour.total >= high_traffic_per_hour > hour.total - hour.added):
            continue
        start = datetime.strptime(hour.hour, "%Y-%m-%dT%H").replace(tzinfo=timezone.utc)
        agent_id = uuid.UUID(hour.agent_id)
        if await repository.record_alert(session, batch.org_id, agent_id, start):
            name = await repository.agent_name(session, agent_id) or "An agent"
            notifications.notify(session, batch.org_id, "agent.high_traffic", {
                "agent_id": hour.agent_id, "agent_name": name, "count": hour.total, "window": "hour",
                "hour": start.isoformat()})
            raised += 1
    if counted.snapshot is not None:
        publish_after_commit(session, publisher, org_channel(batch.org_id), "analytics.counters",
                             realtime_view(today, counted.snapshot))
    await repository.delete_batch(session, batch.batch_id)
    return raised


async def resend_batches(session: AsyncSession, *, older_than: int, limit: int = 1000) -> int:
    """The sweeper: re-send batches still kept `older_than` seconds after they were received or last
    re-sent (all tenants; system scope).

    Their message was lost (broker down at commit, a worker and its message
    both gone) or their worker crashed between steps; every step repeats
    safely. A batch merely waiting in a long queue is re-sent at most once per
    `older_than`: the copy finds it finished and does nothing.
    """
    stale = await repository.stale_batches(session, utcnow() - timedelta(seconds=older_than), limit)
    for batch_id, org_id in stale:
        jobs.enqueue(session, INGEST, str(batch_id), str(org_id))
    return len(stale)
