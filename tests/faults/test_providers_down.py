"""Stripe and SendGrid down: the work is retried, then fails with a sentence a person can read.

Stripe: the billing pool's STRIPE_API_BASE is a port nothing listens on (connections refused), so every
attempt of the subscribe command fails; after COMMAND_MAX_ATTEMPTS it is `failed`, saying Stripe could not
be reached. SendGrid: the local stand-in (tests/fixtures/mail.py) answers 503 to every request; the email
is retried with backoff (shortened through the message's options, as only the test may) until Dramatiq's
retries run out, and its delivery row ends `failed` with the reason.
"""

from __future__ import annotations

import time
import uuid

from objecta import embedded
from tests.fixtures.worker import wait_for

MAX_RETRIES = 8  # workers.email's (importing a worker module here would install a broker in the test process)

CONTEXT = {"title": "Your agent is deployed", "body": "Support bot v2 is live.", "app_url": "http://localhost:3000",
           "action_url": "http://localhost:3000/agents/1", "action_label": "Open the agent"}


def test_subscribing_while_stripe_is_unreachable_fails_readably_after_every_attempt(
        owner, start_worker, settings, figures):
    nobody = f"http://127.0.0.1:{embedded.free_port()}"
    start_worker(["workers.billing"], env={"STRIPE_API_BASE": nobody})
    started = time.monotonic()
    response = owner.post("/v1/billing/subscription", json={"plan": "starter", "payment_method": "pm_card_visa"})
    assert response.status_code == 202, response.text
    command_id = response.json()["command_id"]

    command = wait_for(lambda: (c := owner.get(f"/v1/commands/{command_id}").json())["status"] in (
        "succeeded", "failed") and c, 120, what="the subscribe command to give up")
    limit = settings.commands.max_attempts
    figures.update({"attempts": command["attempts"], "seconds until failed": time.monotonic() - started,
                    "error": command["error"]})

    assert (command["status"], command["attempts"]) == ("failed", limit), command
    assert command["error"] == f"gave up after {limit} attempts: Stripe could not be reached (a network error)", command
    assert owner.get("/v1/billing/subscription").json()["status"] != "active"


def test_an_email_sendgrid_keeps_refusing_with_5xx_fails_readably_after_its_retries(
        sendgrid, sendgrid_pool, deliveries, figures):
    key, to = f"test:faults-503:{uuid.uuid4().hex}", f"person-{uuid.uuid4().hex[:12]}@example.com"
    sendgrid.answer(to, *[503] * (MAX_RETRIES + 1))
    started = time.monotonic()
    sendgrid_pool.send(key, to, "notification", CONTEXT, min_backoff=20, max_backoff=100)

    row = wait_for(lambda: (r := deliveries(key)) and r["status"] in ("sent", "failed") and r, 60,
                   what="the email to be sent or given up")
    figures.update({"requests to SendGrid": len(sendgrid.to(to)), "seconds until failed": time.monotonic() - started,
                    "error": row["error"]})

    assert [r.status for r in sendgrid.to(to)] == [503] * (MAX_RETRIES + 1)
    assert (row["status"], row["attempts"]) == ("failed", MAX_RETRIES + 1), row
    assert row["error"] == (f"gave up after {MAX_RETRIES + 1} attempts: SendGrid is unavailable "
                            "(503 Service Unavailable): try again later"), row
