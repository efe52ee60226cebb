"""Our Stripe-Signature check agrees with Stripe's own SDK on every case that matters.

The edge verifies webhooks with the standard library (it must not load the
SDK); this holds the two to the same answers.
"""

from __future__ import annotations

import json
import time

import pytest
import stripe

from domain.billing.errors import InvalidWebhook
from domain.billing.signature import verify_webhook
from tests.fixtures.stripe import sign

SECRET = "whsec_test_secret"
BODY = json.dumps({"id": "evt_1", "type": "invoice.paid", "data": {"object": {"id": "in_1"}}}).encode()


def _stripe_accepts(body: bytes, header: str, tolerance: int) -> bool:
    try:
        stripe.WebhookSignature.verify_header(body.decode(), header, SECRET, tolerance)
        return True
    except stripe.SignatureVerificationError:
        return False


def _ours_accepts(body: bytes, header: str, tolerance: int) -> bool:
    try:
        verify_webhook(body, header, SECRET, tolerance)
        return True
    except InvalidWebhook:
        return False


now = int(time.time())
CASES = {
    "signed": (BODY, sign(BODY, SECRET, now)),
    "another secret": (BODY, sign(BODY, "whsec_other", now)),
    "altered body": (BODY.replace(b"in_1", b"in_2"), sign(BODY, SECRET, now)),
    "stale": (BODY, sign(BODY, SECRET, now - 600)),
    "a second signature that matches": (BODY, sign(BODY, "whsec_old", now) + ",v1=" +
                                        sign(BODY, SECRET, now).split("v1=")[1]),
    "only v0": (BODY, sign(BODY, SECRET, now).replace("v1=", "v0=")),
    "no timestamp": (BODY, sign(BODY, SECRET, now).split(",", 1)[1]),
    "garbage": (BODY, "nonsense"),
}


@pytest.mark.parametrize("case", CASES)
def test_we_accept_exactly_what_stripe_accepts(case):
    body, header = CASES[case]
    assert _ours_accepts(body, header, 300) == _stripe_accepts(body, header, 300)


def test_the_signed_event_is_returned_and_the_rest_refused():
    assert verify_webhook(BODY, CASES["signed"][1], SECRET, 300)["id"] == "evt_1"
    accepted = {case for case, (body, header) in CASES.items() if _ours_accepts(body, header, 300)}
    assert accepted == {"signed", "a second signature that matches"}
