"""Logging and Sentry, set up the same way in every process (edge, relay, workers, scheduler).

What leaves for Sentry is scrubbed twice: sentry_sdk's `EventScrubber` blanks values under sensitive
keys anywhere in the event (headers, cookies, bodies, extra data, breadcrumbs), our `before_send`
blanks what looks like a secret wherever it sits (a message, an exception's text): bearer tokens,
JWTs, API keys, Stripe keys and webhook secrets, card numbers. Frames' local variables and request
bodies are never sent: a password in a local or a body has no shape a pattern could catch.
"""

from __future__ import annotations

import re
from importlib import metadata
from typing import Any

from objecta import logs
from objecta.settings import Settings

# Keys whose values never leave, on top of sentry_sdk's defaults (password, token, secret, cookie...).
DENYLIST = ["card", "card_number", "cvc", "cvv", "exp_month", "exp_year", "payment_method",
            "refresh_token", "access_token", "mfa_token", "recovery_code", "totp_secret",
            "stripe_secret_key", "webhook_secret", "stripe-signature", "stripe_signature", "jwt_secret",
            "sendgrid_api_key", "idempotency-key", "dsn", "database_url", "app_database_url", "redis_url",
            "broker_url"]
FILTERED = "[Filtered]"
SECRET_SHAPES = re.compile("|".join([
    r"\bbearer\s+[A-Za-z0-9._~+/=-]+",  # an Authorization value
    r"\beyJ[A-Za-z0-9_-]+\.[A-Za-z0-9_-]+\.[A-Za-z0-9_-]+",  # a JWT
    r"\b(?:sk|rk|pk)_(?:live|test)_[A-Za-z0-9_]+",  # Stripe keys
    r"\bwhsec_[A-Za-z0-9_+/=-]+",  # a Stripe webhook secret
    r"\bobk_[A-Za-z0-9_-]+",  # an organization API key
    r"(password|passwd|secret|token|cookie|authorization)=[^\s;,&]+",  # key=value in a URL or a log line
    r"://[^/\s:@]+:[^/\s@]+@",  # credentials in a URL
]), re.IGNORECASE)


# 13 to 19 digits, maybe grouped by spaces or dashes; blanked when the Luhn check says it is a card number.
CARD_SHAPE = re.compile(r"\b\d(?:[ -]?\d){12,18}\b")


def _luhn(digits: str) -> bool:
    total = 0
    for position, digit in enumerate(int(d) for d in reversed(digits)):
        if position % 2:
            digit = digit * 2 - 9 if digit > 4 else digit * 2
        total += digit
    return total % 10 == 0


def _card(match: re.Match) -> str:
    return FILTERED if _luhn(re.sub(r"[ -]", "", match.group())) else match.group()


def release() -> str:
    try:
        return f"objecta@{metadata.version('objecta')}"
    except metadata.PackageNotFoundError:  # pragma: no cover - running from a bare checkout
        return "objecta@unknown"


def _scrub(value: Any) -> Any:
    if isinstance(value, str):
        return CARD_SHAPE.sub(_card, SECRET_SHAPES.sub(FILTERED, value))
    if isinstance(value, dict):
        return {key: _scrub(item) for key, item in value.items()}
    if isinstance(value, (list, tuple)):
        return [_scrub(item) for item in value]
    return value


def scrub_event(event: dict[str, Any], hint: dict[str, Any] | None = None) -> dict[str, Any]:
    """`before_send` (and `before_send_transaction`): secrets by their shape, anywhere in the event."""
    return _scrub(event)


def scrub_breadcrumb(crumb: dict[str, Any], hint: dict[str, Any] | None = None) -> dict[str, Any]:
    return _scrub(crumb)


def setup(settings: Settings, process: str, *, dramatiq: bool = False) -> None:
    logs.configure(settings, process)
    if settings.sentry_dsn:
        import sentry_sdk
        from sentry_sdk.scrubber import DEFAULT_DENYLIST, EventScrubber

        integrations = []
        if dramatiq:
            from sentry_sdk.integrations.dramatiq import DramatiqIntegration
            integrations.append(DramatiqIntegration())
        sentry_sdk.init(dsn=settings.sentry_dsn, environment=settings.env, server_name=process,
                        release=settings.sentry_release or release(), traces_sample_rate=0.0,
                        send_default_pii=False, include_local_variables=False, max_request_body_size="never",
                        event_scrubber=EventScrubber(denylist=DEFAULT_DENYLIST + DENYLIST, recursive=True),
                        before_send=scrub_event, before_breadcrumb=scrub_breadcrumb, integrations=integrations)
        sentry_sdk.set_tag("process", process)
