"""The roll-up of UTC days into `daily_metrics` and `agent_metrics`, the reports read from them, and retention.

A day is a UTC calendar day of `occurred_at`. Rolling a day up replaces its
rows with what `analytics_events` holds now, so running it again gives the
same rows, and a day that received late events (marked in
`analytics_stale_days` by the events worker) is simply rolled up again.
"""

from __future__ import annotations

import csv
import io
import uuid
from collections import defaultdict
from dataclasses import dataclass
from datetime import date, timedelta
from typing import Any

from sqlalchemy.ext.asyncio import AsyncSession

from domain.analytics import repository
from domain.analytics.errors import InvalidPeriod
from domain.analytics.models import MAX_REPORT_DAYS, Period
from domain.analytics.service import day_bounds

DAILY_METRICS = ("events", "messages", "conversations", "errors", "deploys", "active_agents")
AGENT_COLUMNS = ("agent_id", "name", "events", "messages", "conversations", "errors", "deploys", "active_days",
                 "last_event_at")


@dataclass(frozen=True)
class DaySummary:
    day: date
    organizations: int
    agent_rows: int
    events: int


async def aggregate_day(session: AsyncSession, day: date,
                        org_ids: list[uuid.UUID] | None = None) -> DaySummary:
    """Roll up one UTC day for every organization (system scope), or for these; idempotent."""
    organizations, agent_rows, events = await repository.roll_up_day(session, day, *day_bounds(day), org_ids)
    return DaySummary(day, organizations, agent_rows, events)


async def aggregate_late(session: AsyncSession, limit: int = 500) -> list[DaySummary]:
    """Roll up again the (organization, day) pairs that received events late (system scope).

    The marks are taken (deleted) in the same transaction as the roll-up: a
    late event committed after this snapshot marks its day again, and the
    next run picks it up.
    """
    taken = await repository.take_stale_days(session, limit)
    by_day: dict[date, list[uuid.UUID]] = defaultdict(list)
    for org_id, day in taken:
        by_day[day].append(org_id)
    return [await aggregate_day(session, day, orgs) for day, orgs in sorted(by_day.items())]


def period(first: date | None, last: date | None, today: date) -> Period:
    """A report's days: `to` defaults to today, `from` to 29 days before `to`; at most MAX_REPORT_DAYS."""
    last = last or today
    first = first or last - timedelta(days=29)
    if first > last:
        raise InvalidPeriod("`from` is after `to`", details={"field": "from"})
    chosen = Period(first, last)
    if chosen.days > MAX_REPORT_DAYS:
        raise InvalidPeriod(f"{chosen.days} days asked; at most {MAX_REPORT_DAYS}", details={"field": "to"})
    return chosen


async def daily_report(session: AsyncSession, org_id: uuid.UUID, days: Period) -> dict[str, Any]:
    """Every day of the period with every metric, zero where nothing was rolled up."""
    rows = await repository.daily_series(session, org_id, days.first, days.last)
    return {"from": days.first, "to": days.last, "days": [row["day"] for row in rows],
            "series": {metric: [int(row[metric]) for row in rows] for metric in DAILY_METRICS}}


async def agents_report(session: AsyncSession, org_id: uuid.UUID, days: Period, sort: str) -> list[dict[str, Any]]:
    """One row per agent with events in the period; `sort` is a column, `-column` for descending."""
    column = sort.lstrip("-")
    if column not in repository.AGENT_SORTS:
        raise InvalidPeriod(f"cannot sort by {column!r}; one of {', '.join(repository.AGENT_SORTS)}",
                            details={"field": "sort"}, code="invalid_sort")
    return await repository.agents_table(session, org_id, days.first, days.last, column, sort.startswith("-"))


def daily_csv(report: dict[str, Any]) -> str:
    out = io.StringIO()
    writer = csv.writer(out, lineterminator="\n")
    writer.writerow(("day", *DAILY_METRICS))
    for index, day in enumerate(report["days"]):
        writer.writerow((day.isoformat(), *(report["series"][m][index] for m in DAILY_METRICS)))
    return out.getvalue()


def agents_csv(rows: list[dict[str, Any]]) -> str:
    out = io.StringIO()
    writer = csv.writer(out, lineterminator="\n")
    writer.writerow(AGENT_COLUMNS)
    for row in rows:
        writer.writerow(tuple("" if row[c] is None else (row[c].isoformat() if hasattr(row[c], "isoformat")
                                                          else row[c]) for c in AGENT_COLUMNS))
    return out.getvalue()


@dataclass(frozen=True)
class Retention:
    created: list[str]
    dropped: list[str]


async def keep_partitions(session: AsyncSession, today: date, retention_days: int) -> Retention:
    """The daily partition job (system scope): create this month's and next month's partitions and drop
    whole months older than the retention. The rollups stay.

    A month goes once all of it is past the retention, so raw events are kept
    at least `retention_days` and at most a month longer.
    """
    next_month = (today.replace(day=1) + timedelta(days=32)).replace(day=1)
    created = [await repository.ensure_partition(session, month) for month in (today, next_month)]
    dropped = await repository.drop_partitions(session, today - timedelta(days=retention_days))
    await repository.prune_alerts(session, day_bounds(today - timedelta(days=2))[0])
    return Retention(created, dropped)


async def forget_dropped_ids(session: AsyncSession, today: date, retention_days: int, limit: int = 50_000) -> int:
    """Delete up to `limit` dedupe ids of events whose month was dropped; call until it returns less.

    The one row-by-row DELETE of the capability (docs/decisions.md 60): the
    dedupe key cannot carry the partition key, so its table is not partitioned.
    """
    cutoff = today - timedelta(days=retention_days)
    return await repository.prune_event_ids(session, cutoff.replace(day=1), limit)
