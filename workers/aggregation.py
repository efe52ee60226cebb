"""The `aggregation` queue: the nightly roll-up, late days rolled up again, and the partitions' upkeep.

Each is a schedule entry (schedules/__init__.py), claimed once per period
across schedulers; all run in the system scope because they span tenants.
"""

from __future__ import annotations

import logging
from datetime import datetime, timedelta

from domain.analytics import reports
from workers.context import WorkerContext
from workers.scheduled import scheduled_actor

log = logging.getLogger(__name__)


@scheduled_actor("analytics.aggregate_daily", queue="aggregation")
async def aggregate_daily(ctx: WorkerContext, period: datetime) -> None:
    """The 2 AM run rolls up the UTC day before (a caught-up run, the day before its own period)."""
    day = (period - timedelta(days=1)).date()
    async with ctx.db.transaction(system=True) as session:
        summary = await reports.aggregate_day(session, day)
    log.info("analytics.aggregate_daily %s: %d events, %d organizations, %d agent rows", day, summary.events,
             summary.organizations, summary.agent_rows)


@scheduled_actor("analytics.aggregate_late", queue="aggregation", max_retries=0)
async def aggregate_late(ctx: WorkerContext, period: datetime) -> None:
    """Days that received events after they were rolled up, rolled up again (every 10 minutes)."""
    while True:
        async with ctx.db.transaction(system=True) as session:
            done = await reports.aggregate_late(session)
        for summary in done:
            log.info("analytics: %s rolled up again for %d organization(s)", summary.day, summary.organizations)
        if not done:
            break


@scheduled_actor("analytics.keep_partitions", queue="aggregation", max_retries=3)
async def keep_partitions(ctx: WorkerContext, period: datetime) -> None:
    """Partitions created ahead, months past ANALYTICS_RETENTION_DAYS dropped, their dedupe ids forgotten."""
    today, retention = period.date(), ctx.settings.analytics.retention_days
    async with ctx.db.transaction(system=True) as session:
        kept = await reports.keep_partitions(session, today, retention)
    if kept.dropped:
        log.info("analytics: dropped partitions %s (retention %d days)", ", ".join(kept.dropped), retention)
    forgotten = limit = 50_000
    while forgotten == limit:
        async with ctx.db.transaction(system=True) as session:
            forgotten = await reports.forget_dropped_ids(session, today, retention, limit)
