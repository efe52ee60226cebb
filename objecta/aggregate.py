"""`objecta aggregate --date D | --from D1 --to D2`: the nightly roll-up, now, for any UTC days.

Operators backfill with it; a newcomer runs it for today to see the reports
fill. Each day is its own transaction (system scope), so an interrupted run
keeps the days it finished; running a day again gives the same rows.
"""

from __future__ import annotations

import asyncio
import sys
import time
from datetime import date, datetime, timedelta, timezone

from objecta.settings import Settings

WORDS = {"today": 0, "yesterday": -1}


class BadDate(ValueError):
    pass


def parse_day(option: str, value: str) -> date:
    if value in WORDS:
        return datetime.now(timezone.utc).date() + timedelta(days=WORDS[value])
    try:
        return date.fromisoformat(value)
    except ValueError:
        raise BadDate(f"{option} must be a date as YYYY-MM-DD (or today, yesterday), not {value!r}") from None


def days_of(day: str | None, first: str | None, last: str | None) -> list[date]:
    if day is not None:
        if first or last:
            raise BadDate("give either --date, or --from and --to")
        return [parse_day("--date", day)]
    if not (first and last):
        raise BadDate("give --date D, or --from D1 --to D2")
    start, end = parse_day("--from", first), parse_day("--to", last)
    if start > end:
        raise BadDate(f"--from {start} is after --to {end}")
    return [start + timedelta(days=n) for n in range((end - start).days + 1)]


def _bar(done: int, total: int, day: date, out) -> None:
    width = 30
    filled = width * done // total
    out.write(f"\r[{'#' * filled}{'.' * (width - filled)}] {done}/{total} {day}")
    out.flush()


async def _run(settings: Settings, days: list[date], out) -> tuple[int, int, int]:
    from domain.analytics import reports
    from domain.db import Database

    db = Database(settings.database.app_url, 1)
    events = organizations = agent_rows = 0
    try:
        for index, day in enumerate(days):
            async with db.transaction(system=True) as session:
                summary = await reports.aggregate_day(session, day)
            events += summary.events
            organizations = max(organizations, summary.organizations)
            agent_rows += summary.agent_rows
            _bar(index + 1, len(days), day, out)
    finally:
        await db.dispose()
    out.write("\n")
    return events, organizations, agent_rows


def aggregate(settings: Settings, days: list[date]) -> str:
    """Roll the days up now, with a progress bar on stderr; the one-line summary."""
    started = time.monotonic()
    events, organizations, agent_rows = asyncio.run(_run(settings, days, sys.stderr))
    span = f"{days[0]}" if len(days) == 1 else f"{days[0]}..{days[-1]}"
    return (f"objecta: aggregated {len(days)} day(s) {span}: {events} events, up to {organizations} "
            f"organization(s) a day, {agent_rows} agent row(s), in {time.monotonic() - started:.1f}s")
