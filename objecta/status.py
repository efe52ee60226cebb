"""`objecta status [--json]`: the system's health on one screen, from `objecta.health` (as the admin route)."""

from __future__ import annotations

import asyncio
import json
import sys
from datetime import datetime, timezone

from objecta import health, wiring
from objecta.settings import Settings


async def collect(settings: Settings) -> health.HealthReport:
    """The report in a system-scoped transaction of our own; without one if Postgres cannot be reached."""
    db = wiring.database(settings, jobs=None)
    try:
        try:
            async with db.transaction(system=True) as session:
                return await health.report(settings, session)
        except Exception:  # Postgres down (connect or first query): report the rest
            return await health.report(settings, None)
    finally:
        await db.dispose()


def _age(moment: datetime | None, now: datetime) -> str:
    if moment is None:
        return "never"
    seconds = (now - moment).total_seconds()
    return f"{seconds:.0f}s ago" if seconds < 120 else f"{seconds / 60:.0f}m ago" if seconds < 7200 \
        else f"{seconds / 3600:.1f}h ago"


def _na(value) -> str:
    return "-" if value is None else str(value)


def render(report: health.HealthReport) -> str:
    """The operator's screen: plain text, one section per part."""
    now = report.checked_at
    lines = [f"status: {report.status.upper()}   ({now:%Y-%m-%d %H:%M:%S} UTC)", ""]
    for dependency in report.dependencies:
        shown = f"{dependency.latency_ms} ms" if dependency.ok else f"DOWN ({dependency.error})"
        lines.append(f"{dependency.name:<10} {shown}")
    lines += ["", f"{'queue':<15}{'depth':>7}{'delayed':>9}{'in flight':>11}{'oldest':>10}{'dead':>7}{'workers':>9}"]
    for queue in report.queues or []:
        oldest = "-" if queue.oldest_age_seconds is None else f"{queue.oldest_age_seconds:.0f}s"
        lines.append(f"{queue.name:<15}{queue.depth:>7}{queue.delayed:>9}{_na(queue.in_flight):>11}{oldest:>10}"
                     f"{queue.dead_letters:>7}{queue.consumers:>9}")
    if report.queues is None:
        lines.append("(queue figures unavailable)")
    lines += ["", f"worker processes: {_na(None if report.workers is None else len(report.workers))}   "
                  f"relay processes: {_na(None if report.relays is None else len(report.relays))}, "
                  f"websockets: {_na(report.relay_connections)}",
              f"failed commands (last hour): {_na(report.failed_commands_last_hour)}   "
              f"unhandled Stripe events: {_na(report.stripe_events_unhandled)}", "",
              f"{'schedule':<28}{'last period':>14}{'status':>11}  next"]
    for entry in report.schedules or []:
        due = "-" if entry.next_period is None else f"{entry.next_period:%m-%d %H:%M}" + (" OVERDUE" if entry.overdue
                                                                                         else "")
        lines.append(f"{entry.job:<28}{_age(entry.last_period, now):>14}{_na(entry.last_status):>11}  {due}")
    if report.problems:
        lines += ["", "problems:", *(f"  - {problem}" for problem in report.problems)]
    return "\n".join(lines)


def _json_default(value):
    if isinstance(value, datetime):
        return value.astimezone(timezone.utc).isoformat()
    raise TypeError(type(value).__name__)


def _with_running_up(settings: Settings) -> Settings | None:
    """DATABASE_URL and REDIS_URL as set, else those of a running `objecta up` (its embedded servers); None
    when neither answers."""
    import os

    from objecta import embedded
    from objecta import settings as settings_module

    found = {}
    if settings.database.url is None and settings.database.app_url is None:
        if embedded.port_is_free(settings.database.embedded_port):
            return None
        found["DATABASE_URL"] = f"postgresql://postgres@127.0.0.1:{settings.database.embedded_port}/postgres"
    if settings.redis.url is None:
        if embedded.port_is_free(settings.redis.embedded_port):
            return None
        found["REDIS_URL"] = f"redis://127.0.0.1:{settings.redis.embedded_port}/0"
    return settings_module.load({**os.environ, **found}) if found else settings


def run(settings: Settings, as_json: bool) -> int:
    """Print the report; exit 0 when ok, 1 when degraded or down (scripts and cron can alert on it), 2 when
    there is nothing to ask."""
    settings = _with_running_up(settings)
    if settings is None:
        print("objecta: DATABASE_URL and REDIS_URL are not set and no `objecta up` answers", file=sys.stderr)
        return 2
    found = asyncio.run(collect(settings))
    if as_json:
        print(json.dumps(found.as_dict(), default=_json_default, indent=2))
    else:
        print(render(found))
    return 0 if found.status == "ok" else 1
