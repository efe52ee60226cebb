"""Liveness and readiness for load balancers and orchestrators."""

from __future__ import annotations

import asyncio

from litestar import Request, Response, get
from sqlalchemy import text

READY_TIMEOUT = 2.0


@get("/healthz", summary="The process is alive", tags=["health"])
async def healthz() -> dict:
    return {"status": "ok"}


@get("/readyz", summary="Postgres and Redis answer", tags=["health"])
async def readyz(request: Request) -> Response:
    state = request.app.state
    checks = {"postgres": _check(_postgres(state.db)), "redis": _check(state.redis.ping())}
    results = dict(zip(checks, await asyncio.gather(*checks.values())))
    ready = all(r == "ok" for r in results.values())
    body = {"status": "ready" if ready else "unavailable", "checks": results}
    if not ready:
        body = {"error": {"code": "unavailable", "message": "a dependency is not reachable", "details": results}}
    return Response(body, status_code=200 if ready else 503)


async def _postgres(db) -> None:
    async with db.engine.connect() as connection:
        await connection.execute(text("select 1"))


async def _check(probe) -> str:
    try:
        await asyncio.wait_for(probe, READY_TIMEOUT)
        return "ok"
    except Exception as e:  # any failure means "not ready", with the reason
        return f"error: {type(e).__name__}: {e}"[:300]
