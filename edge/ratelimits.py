"""Rate limits at the edge: one guard, declared limits, one Redis round trip per request.

What is counted (the limits themselves are settings, `RATE_LIMIT_<NAME>`, objecta/settings.py):
- a route's declared limits, `opt=rate_limited("signup")`: per client IP (edge/client_ip.py) unless
  another subject is named, `("agent_errors_per_agent", "path:agent_id")` or `(name, "person")`.
  A public route joins with that one line (password reset: `opt=rate_limited("password_reset")`); until
  the name has its own default in `RATE_LIMIT_DEFAULTS` it gets the `public` limit's numbers, counted apart;
- every route taking `tenant`: per person on reads; per person and per organization on writes
  (POST, PUT, PATCH, DELETE);
- `POST /v1/events` (`event_sender`): per API key or person, and per organization (for a key, its
  organization is known only once the key is looked up: the route checks that one itself).
The guard runs before any dependency, so a refused request costs no database work. A 429 carries
Retry-After and the RateLimit fields; an allowed one the RateLimit fields of the limit closest to running
out (added as the response starts, `rate_limit_headers`).

With Redis unreachable, the limits that only share capacity fairly (a person's or an organization's reads,
writes and event batches: `FAIL_OPEN`) let the request through, logged: those routes work on Postgres
alone, and a Redis outage must not take every read and write down with it. The limits that stand
between an attacker and an account or our mail (sign-in, sign-up, reset, tokens, invitations, agent
errors) fail closed: 503 `unavailable`, as the invitation limit always has (decisions 60, 113).
"""

from __future__ import annotations

import hashlib
import logging
import time
from typing import Any

import redis

from litestar.connection import ASGIConnection
from litestar.datastructures import MutableScopeHeaders
from litestar.handlers.base import BaseRouteHandler
from litestar.types import Message, Scope

from domain.analytics import keys
from domain.errors import RateLimited
from domain.ratelimit import Check, RateLimiter, Verdict
from edge.client_ip import client_ip

log = logging.getLogger(__name__)
# Limits that protect capacity, not accounts or mail: with Redis unreachable the request goes through.
FAIL_OPEN = frozenset({"person_reads", "person_writes", "org_writes", "events_per_sender", "events_per_org"})
_last_warning = 0.0
UNREACHABLE_PAUSE = 3.0  # seconds without asking Redis again after it failed
_unreachable_until = 0.0

OPT = "rate_limits"
WRITES = {"POST", "PUT", "PATCH", "DELETE"}
STATE = "objecta.rate_limit"  # the binding verdict of an allowed request, for its response headers


def rate_limited(*limits: str | tuple[str, str]) -> dict[str, Any]:
    """A route's `opt`: the named limits (objecta/settings.py), each per IP or per `(name, subject)`."""
    return {OPT: tuple(limit if isinstance(limit, tuple) else (limit, "ip") for limit in limits)}


def is_limited(handler: BaseRouteHandler) -> bool:
    """Whether the guard may answer 429 on this route (edge/openapi.py documents it)."""
    parameters = handler.parsed_fn_signature.parameters
    return bool(handler.opt.get(OPT)) or bool({"tenant", "event_sender"} & set(parameters))


def _token(connection: ASGIConnection) -> str | None:
    scheme, _, token = (connection.headers.get("authorization") or "").partition(" ")
    return token.strip() if scheme.lower() == "bearer" and token.strip() else None


def _principal(connection: ASGIConnection, services) -> Any:
    """The caller's verified access token, or None: the route's own dependency answers 401 for that."""
    token = _token(connection)
    if token is None or keys.is_api_key(token):
        return None
    try:
        # Verified once per token, not per request (TokenIssuer remembers it): the dependency's check is free.
        return services.accounts.issuer.verify_access(token)
    except Exception:  # invalid or expired: the dependency says which, with the contract's codes
        return None


def checks_for(connection: ASGIConnection, handler: BaseRouteHandler, services) -> list[Check]:
    """Every limit this request counts against."""
    limits = services.settings.rate_limits
    parameters = handler.parsed_fn_signature.parameters
    checks: list[Check] = []
    principal = None
    if "tenant" in parameters or "event_sender" in parameters or any(
            subject != "ip" for _, subject in handler.opt.get(OPT, ())):
        principal = _principal(connection, services)

    def check(name: str, subject: str) -> None:
        # A name without a setting of its own yet counts under its name with the `public` limit's numbers.
        requests, window = limits.limits.get(name) or limits["public"]
        checks.append(Check(name, subject, requests, window))

    for name, subject in handler.opt.get(OPT, ()):
        if subject == "ip":
            check(name, f"ip:{client_ip(connection)}")
        elif subject == "person" and principal is not None:
            check(name, f"user:{principal.user_id}")
        elif subject.startswith("path:") and principal is not None:
            # Within the caller's organization: nobody can spend another organization's agent's limit.
            check(name, f"org:{principal.org_id}:{subject[5:]}:{connection.path_params.get(subject[5:])}")
    if "tenant" in parameters and principal is not None:
        if connection.method in WRITES:
            check("person_writes", f"user:{principal.user_id}")
            check("org_writes", f"org:{principal.org_id}")
        else:
            check("person_reads", f"user:{principal.user_id}")
    if "event_sender" in parameters:
        token = _token(connection)
        if principal is not None:
            check("events_per_sender", f"user:{principal.user_id}")
            check("events_per_org", f"org:{principal.org_id}")
        elif token is not None and keys.is_api_key(token):
            check("events_per_sender", "key:" + hashlib.sha256(token.encode()).hexdigest()[:32])
    return checks


def refusal(verdict: Verdict) -> RateLimited:
    return RateLimited(f"too many requests ({verdict.name}: {verdict.limit} per {verdict.window} s); "
                       f"try again in {verdict.retry_after} s", retry_after=verdict.retry_after,
                       details={"limit": verdict.name, "requests": verdict.limit, "window": verdict.window,
                                "retry_after": verdict.retry_after},
                       policy=verdict.name, limit=verdict.limit, window=verdict.window)


async def enforce(limiter: RateLimiter, checks: list[Check], connection: ASGIConnection | None = None) -> None:
    """Count the request against `checks` (one round trip); raise the 429 if one is spent."""
    if not checks:
        return
    global _unreachable_until
    fail_open = all(check.name in FAIL_OPEN for check in checks)
    if time.monotonic() < _unreachable_until:
        # Redis failed a moment ago: answer at once rather than make every request wait out a timeout on a
        # silent Redis (two seconds each), as the broker sender does (objecta/broker.py).
        if fail_open:
            return
        raise redis.exceptions.ConnectionError("Redis failed a moment ago; rate limits cannot be read")
    try:
        verdict = await limiter.hit_all(checks)
    except (redis.exceptions.ConnectionError, redis.exceptions.TimeoutError):
        _unreachable_until = time.monotonic() + UNREACHABLE_PAUSE
        if not fail_open:
            raise  # 503 `unavailable` (edge/errors.py)
        _warn_unlimited()
        return
    if not verdict.allowed:
        raise refusal(verdict)
    if connection is not None:
        connection.scope.setdefault("state", {})[STATE] = verdict


async def rate_limit_guard(connection: ASGIConnection, handler: BaseRouteHandler) -> None:
    """The app's guard: every limit of this request, before any dependency runs."""
    services = connection.app.state.services
    await enforce(services.rate_limiter, checks_for(connection, handler, services), connection)


async def rate_limit_headers(message: Message, scope: Scope) -> None:
    """`before_send`: an allowed, limited request's response says where its tightest limit stands."""
    if message["type"] != "http.response.start":
        return
    verdict = (scope.get("state") or {}).get(STATE)
    if verdict is None:
        return
    headers = MutableScopeHeaders.from_message(message)
    if "ratelimit" not in headers:  # a 429 already carries its own
        headers["ratelimit"] = f'"{verdict.name}";r={verdict.remaining};t={verdict.retry_after}'
        headers["ratelimit-policy"] = f'"{verdict.name}";q={verdict.limit};w={verdict.window}'


def _warn_unlimited() -> None:
    """One warning every ten seconds, not one per request, while Redis is away."""
    global _last_warning
    now = time.monotonic()
    if now - _last_warning > 10:
        _last_warning = now
        log.warning("rate limits unavailable (Redis unreachable): capacity limits are not enforced meanwhile")
