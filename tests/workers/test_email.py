"""The email queue end to end: broker → worker → outbox or SendGrid → email_deliveries.

A real worker process runs `workers.email`; SendGrid is a local HTTP server
that records what the official SDK sends and answers as told.
"""

from __future__ import annotations

import time
import uuid
from email import message_from_bytes
from email.policy import default
from pathlib import Path

from tests.fixtures.mail import MailPool
from tests.fixtures.worker import wait_for

CONTEXT = {"title": "Your agent is deployed", "body": "Support bot v2 is live.",
           "action_path": "/agents/1",
           "action_label": "Open the agent"}


def _key(name: str) -> str:
    return f"test:{name}:{uuid.uuid4().hex}"


def _address() -> str:
    return f"person-{uuid.uuid4().hex[:12]}@example.com"


def _finished(deliveries, key, timeout=20):
    return wait_for(lambda: (row := deliveries(key)) and row["status"] in ("sent", "failed") and row,
                    timeout, what=f"email {key} to be sent or failed")


def _outbox_files(test_env, key) -> list[Path]:
    return sorted((Path(test_env["OBJECTA_HOME"]) / "outbox").glob(f"*-{key.replace(':', '_')}-*.eml"))


def test_an_email_lands_in_the_outbox_as_a_readable_eml(outbox_pool, deliveries, test_env):
    key, to = _key("outbox"), _address()
    outbox_pool.send(key, to, "notification", CONTEXT)

    row = _finished(deliveries, key)
    assert (row["status"], row["attempts"], row["recipient"], row["template"]) == ("sent", 1, to, "notification")
    [path] = _outbox_files(test_env, key)
    message = message_from_bytes(path.read_bytes(), policy=default)
    assert message["To"] == to
    assert message["From"] == "ObjectaLabs <no-reply@objectalabs.local>"
    assert message["Subject"] == "Your agent is deployed"
    assert message["Date"] and message["Message-ID"] == row["provider_id"]
    assert message.get_content_type() == "multipart/alternative"
    text, html = message.get_body(("plain",)), message.get_body(("html",))
    assert "Support bot v2 is live." in text.get_content()
    assert "Open the agent: http://localhost:3000/agents/1" in text.get_content()
    assert '<a href="http://localhost:3000/agents/1"' in html.get_content()


def test_a_redelivered_message_writes_one_eml(outbox_pool, deliveries, test_env):
    key, to = _key("outbox-twice"), _address()
    outbox_pool.send(key, to, "welcome", {"name": "Ada", "organization_name": "Acme", "app_url": "http://x"})
    outbox_pool.send(key, to, "welcome", {"name": "Ada", "organization_name": "Acme", "app_url": "http://x"})

    assert _finished(deliveries, key)["status"] == "sent"
    wait_for(lambda: f"email {key} already sent" in outbox_pool.log(), 20, what="the second delivery to skip")
    assert len(_outbox_files(test_env, key)) == 1
    assert deliveries(key)["attempts"] == 1


def test_sendgrid_receives_the_email_through_its_api(sendgrid, sendgrid_pool, deliveries):
    key, to = _key("sendgrid"), _address()
    sendgrid_pool.send(key, to, "notification", CONTEXT)

    row = _finished(deliveries, key)
    [request] = sendgrid.to(to)
    assert row["status"] == "sent" and row["provider_id"] == f"stub-{sendgrid.requests.index(request) + 1}"
    assert (request.method, request.path) == ("POST", "/v3/mail/send")
    assert request.headers["Authorization"] == "Bearer test-key"
    body = request.body
    assert body["from"] == {"email": "no-reply@objectalabs.local", "name": "ObjectaLabs"}
    assert body["personalizations"] == [{"to": [{"email": to}]}]
    assert body["subject"] == "Your agent is deployed"
    assert [part["type"] for part in body["content"]] == ["text/plain", "text/html"]
    assert "Support bot v2 is live." in body["content"][0]["value"]
    assert '<a href="http://localhost:3000/agents/1"' in body["content"][1]["value"]
    assert body["custom_args"] == {"dedupe_key": key}


def test_a_rate_limited_email_is_retried_and_sent_once(sendgrid, sendgrid_pool, deliveries):
    key, to = _key("sendgrid-429"), _address()
    sendgrid.answer(to, 429)
    sendgrid_pool.send(key, to, "notification", CONTEXT)

    row = _finished(deliveries, key)
    assert (row["status"], row["attempts"], row["error"]) == ("sent", 2, None)
    assert [request.status for request in sendgrid.to(to)] == [429, 202]


def test_a_refused_email_fails_with_a_readable_error_and_is_not_retried(sendgrid, sendgrid_pool, deliveries):
    key, to = _key("sendgrid-400"), _address()
    sendgrid.answer(to, 400)
    sendgrid_pool.send(key, to, "notification", CONTEXT)

    row = _finished(deliveries, key)
    assert row["status"] == "failed"
    assert row["error"] == ("SendGrid refused the email (400 Bad Request): The to email does not contain a "
                            "valid address. (personalizations.0.to.0.email)")
    time.sleep(2)  # longer than the first retry's backoff (at most 1 s)
    assert len(sendgrid.to(to)) == 1
    assert deliveries(key)["attempts"] == 1


def test_a_redelivered_message_calls_sendgrid_once(sendgrid, sendgrid_pool, deliveries):
    key, to = _key("sendgrid-twice"), _address()
    sendgrid_pool.send(key, to, "notification", CONTEXT)
    sendgrid_pool.send(key, to, "notification", CONTEXT)

    assert _finished(deliveries, key)["status"] == "sent"
    wait_for(lambda: f"email {key} already sent" in sendgrid_pool.log(), 20, what="the second delivery to skip")
    assert [request.status for request in sendgrid.to(to)] == [202]


def test_a_worker_killed_mid_send_is_taken_over(sendgrid, test_env, settings, deliveries, tmp_path):
    """The documented tradeoff: the next worker sends again (at least once), and says so in attempts."""
    pool = MailPool(test_env, tmp_path, SENDGRID_API_KEY="test-key", SENDGRID_API_HOST=sendgrid.url)
    try:
        key, to = _key("sendgrid-crash"), _address()
        sendgrid.answer(to, 202, delay=30)  # the first call hangs; the worker dies waiting
        first = pool.start()
        pool.send(key, to, "notification", CONTEXT)
        wait_for(lambda: sendgrid.to(to), 20, what="the first call to reach SendGrid")
        first.kill()
        assert deliveries(key)["status"] == "sending"  # in doubt, and visible as such

        sendgrid.answer(to)  # answer at once from now on
        pool.start()
        row = _finished(deliveries, key, timeout=30)
        assert (row["status"], row["attempts"]) == ("sent", 2)
        assert len(sendgrid.to(to)) == 2
    finally:
        pool.stop(graceful=False)
