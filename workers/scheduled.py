"""Cron plumbing: periodiq ticks that claim their period before anything runs.

For each entry of the table in `schedules/` (`declare_ticks`, called by `workers/maintenance.py`), a periodic tick actor
`schedules.<job>` runs on the `maintenance` queue. periodiq may deliver a
tick twice (two schedulers, a restart within the minute) or drop one that
waited too long; so the tick claims `(job, period)` rows in Postgres, and
only the claimer sends the job's actor. Jobs with `catch_up` also claim
every period missed since their last success, within the window.
"""

from __future__ import annotations

import logging
from collections.abc import Awaitable, Callable
from datetime import datetime, timezone

import dramatiq
import pendulum
from dramatiq.middleware import CurrentMessage
from periodiq import cron

from domain import jobs
from domain.scheduling import service as scheduling
from schedules import Entry
from objecta.metrics import m
from workers.context import WorkerContext, context

log = logging.getLogger(__name__)

TICK_QUEUE = "maintenance"


def _tick_time() -> datetime:
    """The period this tick stands for: periodiq's `scheduled_at`, or now when sent by hand."""
    message = CurrentMessage.get_current_message()
    scheduled_at = message.options.get("scheduled_at") if message else None
    moment = datetime.fromisoformat(str(scheduled_at)) if scheduled_at else datetime.now(timezone.utc)
    return moment.astimezone(timezone.utc).replace(second=0, microsecond=0)


def declare_ticks(table: tuple[Entry, ...]) -> list[dramatiq.Actor]:
    return [_declare_tick(entry) for entry in table]


def _declare_tick(entry: Entry) -> dramatiq.Actor:
    spec = cron(entry.cron)

    def next_after(moment: datetime) -> datetime:
        return spec.next_valid_date(pendulum.instance(moment)).in_timezone("UTC")

    async def tick() -> None:
        db = context().db
        async with db.transaction(system=True) as session:
            periods = await scheduling.claim_due(session, entry.job, _tick_time(), next_after, entry.catch_up)
            for period in periods:
                jobs.enqueue(session, entry.kind, period.isoformat())
        m().schedule_ticks.labels(entry.job).inc()
        m().schedule_claimed.labels(entry.job).inc(len(periods))
        if periods:
            log.info("%s: running %s", entry.job, ", ".join(p.isoformat() for p in periods))

    tick.__name__ = tick.__qualname__ = "tick_" + entry.job.replace(".", "_")
    return dramatiq.actor(tick, actor_name=f"schedules.{entry.job}", queue_name=TICK_QUEUE, periodic=spec,
                          max_retries=3)


Job = Callable[[WorkerContext, datetime], Awaitable[None]]


def scheduled_actor(job: str, *, queue: str, **options) -> Callable[[Job], dramatiq.Actor]:
    """Declare the actor a schedule entry runs; it records its run's outcome."""

    def declare(work: Job) -> dramatiq.Actor:
        async def perform(period: str) -> None:
            ctx = context()
            moment = datetime.fromisoformat(period)
            try:
                await work(ctx, moment)
            except Exception as error:
                async with ctx.db.transaction(system=True) as session:
                    await scheduling.finish(session, job, moment, f"{type(error).__name__}: {error}"[:2000])
                raise  # Dramatiq retries; a later tick re-claims a failed period
            async with ctx.db.transaction(system=True) as session:
                await scheduling.finish(session, job, moment)

        perform.__name__ = perform.__qualname__ = work.__name__
        perform.__module__ = work.__module__
        return dramatiq.actor(perform, actor_name=job, queue_name=queue, **options)

    return declare
