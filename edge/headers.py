"""Security headers on every answer, and CORS for the configured frontend origins only.

- `X-Content-Type-Options: nosniff`, `Referrer-Policy: no-referrer`, frame denial (`X-Frame-Options: DENY`
  and CSP `frame-ancestors 'none'`) on everything, errors and the schema included. No stricter CSP: the
  API answers JSON, and Swagger UI at /schema/swagger loads its scripts from a CDN.
- HSTS only on an answer served over HTTPS (the ASGI scheme, or `X-Forwarded-Proto: https` from a
  trusted proxy that terminated TLS): over plain HTTP the header means nothing and is ignored.
- CORS (`FRONTEND_ORIGINS`): exact origins, never `*`; no credentials mode, because the API is
  authenticated by the Authorization header and sets no cookies; the frontend may read the headers it
  acts on (Location of a 202, Retry-After and the RateLimit fields of a 429, X-Request-ID).
"""

from __future__ import annotations

from litestar.config.cors import CORSConfig
from litestar.datastructures import Headers, MutableScopeHeaders
from litestar.types import Message, Scope

from edge.client_ip import is_trusted_peer
from objecta.settings import Settings

ALWAYS = {
    "x-content-type-options": "nosniff",
    "referrer-policy": "no-referrer",
    "x-frame-options": "DENY",
    "content-security-policy": "frame-ancestors 'none'",
}
HSTS = "max-age=63072000; includeSubDomains"
EXPOSED = ["Location", "Retry-After", "RateLimit", "RateLimit-Policy", "X-Request-ID"]
ALLOWED_REQUEST_HEADERS = ["Authorization", "Content-Type", "Idempotency-Key", "X-Request-ID", "Accept"]


def cors_config(settings: Settings) -> CORSConfig | None:
    """None without FRONTEND_ORIGINS: browsers on other origins get no CORS headers at all."""
    origins = list(settings.http.frontend_origins)
    if not origins:
        return None
    return CORSConfig(allow_origins=origins, allow_methods=["GET", "POST", "PUT", "PATCH", "DELETE"],
                      allow_headers=ALLOWED_REQUEST_HEADERS, allow_credentials=False, expose_headers=EXPOSED,
                      max_age=600)


def over_https(scope: Scope) -> bool:
    if scope.get("scheme") in ("https", "wss"):
        return True
    client = scope.get("client")
    proxies = scope["app"].state.services.settings.http.trusted_proxies
    if client and is_trusted_peer(client[0], proxies):
        proto = Headers.from_scope(scope).get("x-forwarded-proto", "")
        return proto.split(",")[-1].strip().lower() == "https"
    return False


async def security_headers(message: Message, scope: Scope) -> None:
    """`before_send`: the headers above on every HTTP answer."""
    if message["type"] != "http.response.start":
        return
    headers = MutableScopeHeaders.from_message(message)
    for name, value in ALWAYS.items():
        if name not in headers:
            headers[name] = value
    if over_https(scope):
        headers["strict-transport-security"] = HSTS
