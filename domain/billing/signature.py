"""Verifying Stripe's `Stripe-Signature` header, with the standard library only.

The edge verifies every webhook before it stores anything, and must not load
the Stripe SDK (it never calls Stripe). Stripe's scheme: the header carries
`t=<unix seconds>` and one or more `v1=<hex>`, each an HMAC-SHA256 with the
endpoint's secret over `"<t>.<body>"`; a timestamp older than the tolerance is
refused, so a captured request cannot be replayed later.
"""

from __future__ import annotations

import hashlib
import hmac
import json
import time
from typing import Any

from domain.billing.errors import InvalidWebhook

SCHEME = "v1"


def _signature(payload: bytes, secret: str, timestamp: int) -> str:
    """The `v1` signature of `payload` at `timestamp`, as Stripe computes it."""
    return hmac.new(secret.encode(), f"{timestamp}.".encode() + payload, hashlib.sha256).hexdigest()


def verify_webhook(payload: bytes, header: str | None, secret: str, tolerance: int,
                   now: float | None = None) -> dict[str, Any]:
    """The event Stripe signed, or `InvalidWebhook`: missing or wrong signature, altered body, stale timestamp."""
    if not header:
        raise InvalidWebhook("missing Stripe-Signature header")
    timestamp, signatures = _parse(header)
    expected = _signature(payload, secret, timestamp)
    if not any(hmac.compare_digest(expected, candidate) for candidate in signatures):
        raise InvalidWebhook("webhook signature rejected: no signature matches the body")
    if tolerance and timestamp < (time.time() if now is None else now) - tolerance:
        raise InvalidWebhook(f"webhook signature rejected: timestamp outside the tolerance zone ({tolerance} s)")
    try:
        event = json.loads(payload.decode("utf-8"))
    except UnicodeDecodeError as error:
        raise InvalidWebhook("webhook body is not UTF-8") from error
    except ValueError as error:
        raise InvalidWebhook("webhook body is not JSON") from error
    if not isinstance(event, dict) or not isinstance(event.get("id"), str) or not isinstance(event.get("type"), str):
        raise InvalidWebhook("webhook body is not a Stripe event")
    return event


def _parse(header: str) -> tuple[int, list[str]]:
    pairs = [tuple(item.strip().split("=", 1)) for item in header.split(",")]
    pairs = [pair for pair in pairs if len(pair) == 2]
    try:
        timestamp = int(next(value for key, value in pairs if key == "t"))
    except (StopIteration, ValueError):
        raise InvalidWebhook("webhook signature rejected: no timestamp in Stripe-Signature") from None
    signatures = [value for key, value in pairs if key == SCHEME]
    if not signatures:
        raise InvalidWebhook(f"webhook signature rejected: no {SCHEME} signature in Stripe-Signature")
    return timestamp, signatures
