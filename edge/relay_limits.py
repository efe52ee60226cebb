"""The relay's limits per login session: handshakes per window and websockets open at once.

One token (or one session, refreshed into new tokens) opening hundreds of websockets holds a relay's
memory and a pub/sub subscription each (issue 14, finding 1: 200 on one token were all accepted).
A refused handshake is a 429 in the contract's error format with Retry-After and the RateLimit fields.
"""

from __future__ import annotations

import uuid

from websockets.http11 import Response

from domain.accounts.tokens import Principal
from domain.errors import RateLimited, error_body
from domain.ratelimit import Check, ConnectionSlots
from objecta.settings import Settings


def subject(principal: Principal) -> str:
    return f"relay:session:{principal.session_id}"


async def admit(slots: ConnectionSlots, settings: Settings, principal: Principal) -> tuple[str, Response | None]:
    """A new connection's id, and the refusal to answer instead of opening it, if any."""
    connection_id = uuid.uuid4().hex
    requests, window = settings.rate_limits["relay_connects"]
    cap, _ = settings.rate_limits["relay_connections"]
    verdict = await slots.admit(subject(principal), connection_id,
                                connects=Check("relay_connects", "", requests, window), cap=cap)
    if verdict.allowed:
        return connection_id, None
    what = (f"{cap} websockets are open for this login" if verdict.name == "relay_connections"
            else f"{requests} connections per {window} s")
    refused = RateLimited(f"too many websockets ({what}); try again in {verdict.retry_after} s",
                          retry_after=verdict.retry_after, policy=verdict.name, limit=verdict.limit,
                          window=verdict.window or None,
                          details={"limit": verdict.name, "requests": verdict.limit, "window": verdict.window,
                                   "retry_after": verdict.retry_after})
    return connection_id, _refusal(refused)


def _refusal(error: RateLimited) -> Response:
    # The relay's own JSON answer (edge/relay.json_response), with the limit's headers.
    from edge.relay import json_response

    response = json_response(error.status_code, error_body(error.code, error.message, error.details))
    for name, value in error.headers.items():
        response.headers[name] = value
    return response
