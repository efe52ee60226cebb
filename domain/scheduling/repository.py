"""All SQL of scheduled runs (system scope: they belong to no tenant)."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncSession

# Claim a period: a new row, or a failed one, or a claim so old its worker
# must have died. Anything else means someone else has it (or it is done).
_CLAIM = text("""
    insert into scheduled_runs (job, scheduled_for, status) values (:job, :period, 'claimed')
    on conflict (job, scheduled_for) do update
        set status = 'claimed', claimed_at = now(), attempts = scheduled_runs.attempts + 1,
            error = null, finished_at = null
        where scheduled_runs.status = 'failed'
           or (scheduled_runs.status = 'claimed' and scheduled_runs.claimed_at < now() - make_interval(secs => :stale))
    returning scheduled_for
""")


async def claim(session: AsyncSession, job: str, period: datetime, stale_after_seconds: int) -> bool:
    row = await session.execute(_CLAIM, {"job": job, "period": period, "stale": stale_after_seconds})
    return row.first() is not None


async def last_success(session: AsyncSession, job: str) -> datetime | None:
    row = await session.execute(text(
        "select max(scheduled_for) from scheduled_runs where job = :job and status = 'succeeded'"), {"job": job})
    return row.scalar()


async def finish(session: AsyncSession, job: str, period: datetime, error: str | None) -> None:
    await session.execute(text("""
        update scheduled_runs set status = :status, finished_at = now(), error = :error
        where job = :job and scheduled_for = :period
    """), {"job": job, "period": period, "status": "failed" if error else "succeeded", "error": error})


async def runs(session: AsyncSession, job: str) -> list[tuple[datetime, str, int]]:
    rows = await session.execute(text(
        "select scheduled_for, status, attempts from scheduled_runs where job = :job order by scheduled_for"),
        {"job": job})
    return [tuple(r) for r in rows]


async def latest(session: AsyncSession) -> dict[str, tuple[datetime, str, datetime | None]]:
    """Each job's latest claimed period: (scheduled_for, status, finished_at)."""
    rows = await session.execute(text("""
        select distinct on (job) job, scheduled_for, status, finished_at
        from scheduled_runs order by job, scheduled_for desc
    """))
    return {job: (period, status, finished) for job, period, status, finished in rows}
