"""System health: one implementation behind `GET /admin/v1/system/health`, the dashboard's summary and
`objecta status`.

`report(settings, session)` gathers, each part bounded and each failure kept as
a figure rather than raised:
- Postgres, Redis (and RabbitMQ when it is the broker): reachable, and how long one round trip took;
- every queue (`objecta.queues.queue_figures`): depth, delayed, oldest, dead letters, live consumers;
- worker processes alive (heartbeats, `objecta.heartbeat`), relay processes and their websockets;
- each schedule entry's latest claimed period and whether the next one is overdue;
- Stripe events stored but not handled, and commands failed in the last hour.
The session is a system-scoped transaction (the admin guard's, or the CLI's own); None when Postgres
could not be reached, and the database figures are then None.
"""

from __future__ import annotations

import asyncio
import time
from dataclasses import asdict, dataclass, field
from datetime import datetime, timedelta, timezone
from typing import Any

import pendulum
import redis
from periodiq import cron
from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncSession

import schedules
from domain.billing import webhooks
from domain.commands import service as commands
from domain.scheduling import service as scheduling
from objecta import heartbeat
from objecta.connections import amqp_url, redis_options
from objecta.queues import QueueFigures, queue_figures
from objecta.settings import Settings

__all__ = ["HealthReport", "QueueFigures", "queue_figures", "report"]

PROBE_TIMEOUT = 3.0  # seconds for any one probe
OVERDUE_AFTER = timedelta(minutes=2)  # a period's tick may wait in the queue up to a minute (SCHEDULE_SKIP_DELAY)
WAITING_TOO_LONG = 300.0  # seconds the next message of a queue has waited: worth a look
UNHANDLED_TOO_LONG = timedelta(minutes=5)  # the sweeper re-sends unhandled events after two minutes


@dataclass
class Dependency:
    name: str
    ok: bool
    latency_ms: float | None
    error: str | None = None


@dataclass
class ScheduleFigures:
    job: str
    cron: str
    queue: str
    last_period: datetime | None  # the latest period claimed (the scheduler's last tick for it)
    last_status: str | None  # claimed (running), succeeded, failed
    next_period: datetime | None  # the period that should be claimed next
    overdue: bool | None  # next_period passed more than OVERDUE_AFTER ago; None: never ran, cannot tell


@dataclass
class HealthReport:
    status: str  # ok, degraded (something needs a look), down (Postgres or Redis unreachable)
    checked_at: datetime
    dependencies: list[Dependency]
    queues: list[QueueFigures] | None
    workers: list[dict[str, Any]] | None  # live worker processes: host, pid, queues, beat age
    relays: list[dict[str, Any]] | None  # live relay processes and their open websockets
    relay_connections: int | None
    schedules: list[ScheduleFigures] | None
    stripe_events_unhandled: int | None
    stripe_oldest_unhandled_at: datetime | None
    failed_commands_last_hour: int | None
    problems: list[str] = field(default_factory=list)

    def as_dict(self) -> dict[str, Any]:
        return asdict(self)


def _error(error: BaseException) -> str:
    return f"{type(error).__name__}: {error}"[:300]


async def _postgres(session: AsyncSession) -> Dependency:
    began = time.perf_counter()
    try:
        await asyncio.wait_for(session.execute(text("select 1")), PROBE_TIMEOUT)
    except Exception as error:
        return Dependency("postgres", False, None, _error(error))
    return Dependency("postgres", True, round((time.perf_counter() - began) * 1000, 2))


def _timed(name: str, probe) -> Dependency:
    began = time.perf_counter()
    try:
        probe()
    except Exception as error:
        return Dependency(name, False, None, _error(error))
    return Dependency(name, True, round((time.perf_counter() - began) * 1000, 2))


def _redis_ping(url: str) -> None:
    client = redis.Redis.from_url(url, **redis_options())
    try:
        client.ping()
    finally:
        client.close()


def _rabbitmq_ping(url: str) -> None:
    import pika  # only with RabbitMQ as the broker

    pika.BlockingConnection(pika.URLParameters(amqp_url(url))).close()


def _broker_side(settings: Settings) -> dict[str, Any]:
    """Everything read from Redis and the broker (blocking clients: run in a thread)."""
    found: dict[str, Any] = {"dependencies": [_timed("redis", lambda: _redis_ping(settings.redis.url))]}
    if settings.broker.is_rabbitmq:
        found["dependencies"].append(_timed("rabbitmq", lambda: _rabbitmq_ping(settings.broker.url)))
    try:
        found["queues"] = queue_figures(settings)
    except Exception as error:
        found["queue_error"] = _error(error)
    if found["dependencies"][0].ok:
        client = redis.Redis.from_url(settings.redis.url, **redis_options())
        try:
            now = time.time()
            found["workers"] = [{"host": b.get("host"), "pid": b.get("pid"), "queues": b.get("queues", []),
                                 "threads": b.get("threads"), "beat_age_seconds": round(now - b.get("beat_at", now), 1)}
                                for b in heartbeat.read_beats(client, settings.broker.namespace, "worker")]
            found["relays"] = [{"host": b.get("host"), "pid": b.get("pid"), "connections": b.get("connections", 0)}
                               for b in heartbeat.read_beats(client, settings.broker.namespace, "relay")]
        finally:
            client.close()
    return found


def schedule_figures(latest: dict[str, tuple[datetime, str, datetime | None]], now: datetime) -> list[ScheduleFigures]:
    """Each entry of `schedules.TABLE` against its latest claimed period."""
    figures = []
    for entry in schedules.TABLE:
        last = latest.get(entry.job)
        if last is None:
            figures.append(ScheduleFigures(entry.job, entry.cron, entry.queue, None, None, None, None))
            continue
        period, status, _ = last
        upcoming = cron(entry.cron).next_valid_date(pendulum.instance(period)).in_timezone("UTC")
        upcoming = datetime.fromtimestamp(upcoming.timestamp(), timezone.utc)
        figures.append(ScheduleFigures(entry.job, entry.cron, entry.queue, period, status, upcoming,
                                       now - upcoming > OVERDUE_AFTER))
    return figures


async def _database_side(session: AsyncSession, now: datetime) -> dict[str, Any]:
    latest = await scheduling.latest_runs(session)
    unhandled, oldest = await webhooks.unhandled(session)
    return {"schedules": schedule_figures(latest, now), "stripe_events_unhandled": unhandled,
            "stripe_oldest_unhandled_at": oldest,
            "failed_commands_last_hour": await commands.failed_since(session, now - timedelta(hours=1))}


def _problems(found: dict[str, Any], now: datetime) -> list[str]:
    problems = [f"{d.name} unreachable: {d.error}" for d in found["dependencies"] if not d.ok]
    if "queue_error" in found:
        problems.append(f"queue figures unavailable: {found['queue_error']}")
    for queue in found.get("queues") or []:
        if (queue.depth or queue.delayed) and not queue.consumers:
            problems.append(f"queue {queue.name}: {queue.depth + queue.delayed} message(s) and no live worker")
        if queue.oldest_age_seconds is not None and queue.oldest_age_seconds > WAITING_TOO_LONG:
            problems.append(f"queue {queue.name}: the next message has waited {queue.oldest_age_seconds:.0f}s")
    for entry in found.get("schedules") or []:
        if entry.overdue:
            problems.append(f"schedule {entry.job}: {entry.next_period:%Y-%m-%d %H:%M} UTC not run yet")
        elif entry.last_status == "failed":
            problems.append(f"schedule {entry.job}: the run of {entry.last_period:%Y-%m-%d %H:%M} UTC failed")
    oldest = found.get("stripe_oldest_unhandled_at")
    if oldest is not None and now - oldest > UNHANDLED_TOO_LONG:
        problems.append(f"{found['stripe_events_unhandled']} Stripe event(s) unhandled, the oldest since "
                        f"{oldest:%Y-%m-%d %H:%M} UTC")
    return problems


async def report(settings: Settings, session: AsyncSession | None) -> HealthReport:
    """The whole picture; `session` is a system-scoped transaction, or None when Postgres is unreachable."""
    now = datetime.now(timezone.utc)
    broker_side = asyncio.create_task(asyncio.to_thread(_broker_side, settings))
    found: dict[str, Any] = {}
    try:
        if session is None:
            postgres = Dependency("postgres", False, None, "not reachable")
        else:
            postgres = await _postgres(session)
            if postgres.ok:
                found.update(await _database_side(session, now))
    finally:  # the broker's side is awaited whatever happened here: no thread's result is left unread
        found.update(await broker_side)
    found["dependencies"] = [postgres, *found["dependencies"]]
    problems = _problems(found, now)
    down = not all(d.ok for d in found["dependencies"] if d.name in ("postgres", "redis"))
    relays = found.get("relays")
    return HealthReport(
        status="down" if down else "degraded" if problems else "ok", checked_at=now,
        dependencies=found["dependencies"], queues=found.get("queues"), workers=found.get("workers"),
        relays=relays, relay_connections=None if relays is None else sum(r["connections"] for r in relays),
        schedules=found.get("schedules"), stripe_events_unhandled=found.get("stripe_events_unhandled"),
        stripe_oldest_unhandled_at=found.get("stripe_oldest_unhandled_at"),
        failed_commands_last_hour=found.get("failed_commands_last_hour"), problems=problems)
