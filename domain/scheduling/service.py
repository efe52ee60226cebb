"""Scheduled runs: exactly one run per (job, period), and catch-up for jobs that must not miss one."""

from __future__ import annotations

from collections.abc import Callable
from datetime import datetime, timedelta

from sqlalchemy.ext.asyncio import AsyncSession

from domain.scheduling import repository

# A claim older than this whose run never finished is presumed lost.
STALE_CLAIM_SECONDS = 3600
MAX_CATCH_UP_PERIODS = 100


def due_periods(tick: datetime, next_after: Callable[[datetime], datetime], catch_up: timedelta | None,
                last_success: datetime | None) -> list[datetime]:
    """The periods a tick should run, oldest first.

    Without catch-up: the tick's own period. With it: every period after the
    last success (or after the start of the catch-up window) up to the tick.
    `next_after(p)` gives the job's next period strictly after p (its cron).
    """
    if catch_up is None:
        return [tick]
    start = tick - catch_up
    if last_success is not None and last_success > start:
        start = last_success
    periods: list[datetime] = []
    period = next_after(start)
    while period < tick and len(periods) < MAX_CATCH_UP_PERIODS:
        periods.append(period)
        period = next_after(period)
    return periods + [tick]


async def claim_due(session: AsyncSession, job: str, tick: datetime, next_after: Callable[[datetime], datetime],
                    catch_up: timedelta | None) -> list[datetime]:
    """Claim every due period nobody else has; return the ones this caller now owns."""
    last = await repository.last_success(session, job) if catch_up else None
    claimed = []
    for period in due_periods(tick, next_after, catch_up, last):
        if await repository.claim(session, job, period, STALE_CLAIM_SECONDS):
            claimed.append(period)
    return claimed


async def finish(session: AsyncSession, job: str, period: datetime, error: str | None = None) -> None:
    await repository.finish(session, job, period, error)


async def runs(session: AsyncSession, job: str) -> list[tuple[datetime, str, int]]:
    return await repository.runs(session, job)


async def latest_runs(session: AsyncSession) -> dict[str, tuple[datetime, str, datetime | None]]:
    """Each job's latest claimed period, with its status and when it finished: the scheduler's last ticks."""
    return await repository.latest(session)
