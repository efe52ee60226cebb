"""Liveness and readiness for load balancers and orchestrators."""

from __future__ import annotations

import asyncio
from urllib.parse import urlsplit

from litestar import Response, get
from redis.asyncio import Redis
from sqlalchemy import text

from domain.db import Database
from domain.errors import error_body
from objecta.settings import Settings

READY_TIMEOUT = 2.0


@get("/healthz", summary="The process is alive", tags=["health"])
async def healthz() -> dict:
    return {"status": "ok"}


@get("/readyz", summary="Postgres, Redis and (when it is the broker) RabbitMQ answer", tags=["health"])
async def readyz(db: Database, redis: Redis, settings: Settings) -> Response:
    checks = {"postgres": _check(_postgres(db)), "redis": _check(redis.ping())}
    broker = settings.broker
    if broker.is_rabbitmq:  # commands are enqueued there: an edge that cannot reach it is not ready
        checks["rabbitmq"] = _check(_reachable(broker.url))
    results = dict(zip(checks, await asyncio.gather(*checks.values())))
    ready = all(r == "ok" for r in results.values())
    body = {"status": "ready" if ready else "unavailable", "checks": results}
    if not ready:
        body = error_body("unavailable", "a dependency is not reachable", results)
    return Response(body, status_code=200 if ready else 503)


async def _postgres(db) -> None:
    async with db.engine.connect() as connection:
        await connection.execute(text("select 1"))


async def _reachable(url: str) -> None:
    """A TCP connection to the broker opens (an AMQP handshake per probe would cost the broker more)."""
    parts = urlsplit(url)
    _, writer = await asyncio.open_connection(parts.hostname or "localhost",
                                              parts.port or (5671 if parts.scheme == "amqps" else 5672))
    writer.close()
    await writer.wait_closed()


async def _check(probe) -> str:
    try:
        await asyncio.wait_for(probe, READY_TIMEOUT)
        return "ok"
    except Exception as e:  # any failure means "not ready", with the reason
        return f"error: {type(e).__name__}: {e}"[:300]
