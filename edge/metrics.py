"""The edge's Prometheus figures: requests by route template and status, and `GET /metrics`.

Litestar ships a Prometheus middleware (litestar.plugins.prometheus); it is not
used because in 2.25 it reads `scope["path_template"]`, which a request that
matched no route does not have (a scanner's random path would fail inside the
middleware), and its `exclude_unhandled_paths` option is declared but not
read. This one labels a request with its route template (`/v1/agents/{agent_id}`), never
the raw path, so a scanner cannot grow the label set. It wraps each route (Litestar's app
middleware), so a request that matches no route is not counted: Litestar answers it 404
before any route's middleware runs.
"""

from __future__ import annotations

import time

from litestar import Response, get
from litestar.types import ASGIApp, Message, Receive, Scope, Send

from objecta.metrics import exposition, m

UNMATCHED = "unmatched"


def request_metrics(app: ASGIApp) -> ASGIApp:
    """ASGI middleware (Litestar's `middleware=[...]` takes a factory of the next app)."""
    m()  # declared when the app is built, not in the first request

    async def measured(scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await app(scope, receive, send)
            return
        began, status = time.perf_counter(), 500

        async def remember(message: Message) -> None:
            nonlocal status
            if message["type"] == "http.response.start":
                status = message["status"]
            await send(message)

        try:
            await app(scope, receive, remember)
        finally:
            route = scope.get("path_template") or UNMATCHED
            method = scope.get("method", "GET")
            metrics = m()
            metrics.http_requests.labels(method, route, str(status)).inc()
            metrics.http_duration.labels(method, route).observe(time.perf_counter() - began)

    return measured


@get("/metrics", include_in_schema=False, sync_to_thread=False)
def metrics_endpoint() -> Response:
    """Prometheus' text format; every uvicorn worker's when PROMETHEUS_MULTIPROC_DIR is set."""
    body, content_type = exposition()
    return Response(body, media_type=content_type)
