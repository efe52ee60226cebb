"""`Allow` on OPTIONS lists every method of the path.

Litestar gives each path the OPTIONS handler of the first handler registered
there, and that handler lists only the methods known at that moment: with GET,
PATCH and DELETE of `/v1/agents/{agent_id}` declared one by one (in a router or
a controller alike) it answered `Allow: GET, OPTIONS`. This hook rewrites the
header from the app's final routes, which know every method.
"""

from __future__ import annotations

from litestar.datastructures import MutableScopeHeaders
from litestar.routes import HTTPRoute
from litestar.types import Message, Scope


async def allow_every_method(message: Message, scope: Scope) -> None:
    """`before_send` hook: on an OPTIONS answer, `Allow` names every method of the matched path."""
    if message["type"] != "http.response.start" or scope.get("method") != "OPTIONS":
        return
    template = scope.get("path_template")
    if template is None:
        return
    app = scope["app"]
    allowed = getattr(app.state, "allowed_methods", None)
    if allowed is None:
        allowed = app.state.allowed_methods = {
            route.path_format: ", ".join(sorted(route.methods)) for route in app.routes if isinstance(route, HTTPRoute)}
    if template in allowed:
        MutableScopeHeaders.from_message(message)["allow"] = allowed[template]
