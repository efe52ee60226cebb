"""Each request's id: the client's `X-Request-ID` when well formed, else a new one; answered in the same header.

Set in `domain.correlation.request_id` for the request's task, so the command it
accepts, the messages it sends and every log line it writes carry it.
"""

from __future__ import annotations

from litestar.datastructures import MutableScopeHeaders
from litestar.types import ASGIApp, Message, Receive, Scope, Send

from domain import correlation

HEADER = "x-request-id"


def request_ids(app: ASGIApp) -> ASGIApp:
    """ASGI middleware of every route (Litestar's `middleware=[...]`)."""

    async def with_id(scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await app(scope, receive, send)
            return
        offered = next((value.decode("latin-1") for name, value in scope.get("headers", ())
                        if name.decode("latin-1").lower() == HEADER), None)
        request_id = correlation.accepted_or_new(offered)

        async def answer(message: Message) -> None:
            if message["type"] == "http.response.start":
                MutableScopeHeaders.from_message(message)[HEADER] = request_id
            await send(message)

        token = correlation.request_id.set(request_id)
        try:
            await app(scope, receive, answer)
        finally:
            correlation.request_id.reset(token)

    return with_id
