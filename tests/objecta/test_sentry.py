"""Sentry, shown to work: errors of the edge, a worker's actor and a schedule tick reach a Sentry stand-in
(tests/fixtures/sentry.py) with release and environment, and without a password, token, Authorization
header, cookie, card number or Stripe secret inside."""

from __future__ import annotations

import os
import subprocess
import sys

import dramatiq
import httpx

from objecta.broker import BrokerSender, build_broker
from objecta.embedded import free_port, wait_for_http
from domain.jobs import Job
from objecta.observability import release
from tests.fixtures.relay import REPO
from tests.fixtures.worker import Worker, wait_for

TOKEN = "eyJhbGciOiJIUzI1NiJ9.eyJzdWIiOiJzZW50cnktdGVzdCJ9.c2lnbmF0dXJlLXNlbnRyeQ"
PASSWORD = "hunter2-sentry-password"
COOKIE = "session-cookie-sentry-4711"
CARD = "4242424242424242"
STRIPE_KEY = "sk_test_sentrystripesecret42"
WEBHOOK_SECRET = "whsec_sentrywebhooksecret42"
SECRETS = [TOKEN, PASSWORD, COOKIE, CARD, "4242 4242", STRIPE_KEY, WEBHOOK_SECRET]


def test_errors_of_the_edge_an_actor_and_a_tick_reach_sentry_scrubbed(test_env, settings, sentry_capture, tmp_path):
    dsn, captured = sentry_capture
    env = {**os.environ, **test_env, "SENTRY_DSN": dsn, "STRIPE_WEBHOOK_SECRET": WEBHOOK_SECRET}

    port = free_port()
    with open(tmp_path / "edge.log", "ab") as log:
        edge = subprocess.Popen([sys.executable, "-m", "uvicorn", "--factory", "tests.objecta.failing_edge:create_app",
                                 "--port", str(port), "--no-proxy-headers"],
                                env=env, cwd=REPO, stdout=log, stderr=subprocess.STDOUT)
    worker = Worker(env, tmp_path / "worker.log", modules=["workers.maintenance"], threads=1).start()
    try:
        wait_for_http(f"http://127.0.0.1:{port}/readyz", edge, 30, "edge", tmp_path / "edge.log")
        answer = httpx.post(f"http://127.0.0.1:{port}/v1/test-only/boom", timeout=10,
                            headers={"Authorization": f"Bearer {TOKEN}", "Cookie": f"session={COOKIE}"},
                            json={"password": PASSWORD, "card": CARD, "stripe_key": STRIPE_KEY})
        assert answer.status_code == 500 and PASSWORD not in answer.text

        broker = build_broker(settings)
        # An actor that raises: a period that is not a date, carrying a secret in its text.
        BrokerSender(broker).send(Job("maintenance", "billing.prune_events", (f"actor-boom-{STRIPE_KEY}",)))
        # A schedule tick that raises: periodiq's scheduled_at unreadable.
        broker.enqueue(dramatiq.Message(queue_name="maintenance", actor_name="schedules.billing.prune_events",
                                        args=(), kwargs={}, options={"scheduled_at": f"tick-boom-{WEBHOOK_SECRET}"}))
        broker.close()

        def arrived():
            text = captured.text()
            return all(marker in text for marker in ("boom: ", "actor-boom", "tick-boom"))
        try:
            wait_for(arrived, timeout=30, what="the three errors at the Sentry stand-in")
        except AssertionError:
            raise AssertionError(f"captured: {captured.text()[:3000]}") from None
    finally:
        edge.terminate()
        edge.wait(10)
        worker.stop()

    servers = {event.get("server_name") for event in captured.events}
    assert {"edge", "worker"} <= servers, servers
    for event in captured.events:
        assert event["release"] == release() and event["environment"] == "test", event
    text = captured.text()
    leaked = [secret for secret in SECRETS if secret in text]
    assert not leaked, leaked
    assert "[Filtered]" in text


def test_the_relay_reports_to_sentry_too(test_env, settings, sentry_capture, tmp_path):
    """The relay's own error (its database unreachable while checking a login) arrives, scrubbed."""
    from websockets.exceptions import InvalidStatus
    from websockets.sync.client import connect

    from tests.fixtures.app import forge_token
    from tests.fixtures.relay import RelayProcess

    dsn, captured = sentry_capture
    dead_database = f"postgresql://objecta_app:relay-db-{PASSWORD}@127.0.0.1:{free_port()}/objecta"
    relay = RelayProcess({**test_env, "SENTRY_DSN": dsn, "APP_DATABASE_URL": dead_database},
                         tmp_path / "relay.log", []).start()
    try:
        try:
            connect(relay.url(forge_token(settings)), open_timeout=10).close()
        except InvalidStatus as refused:
            assert refused.response.status_code == 503
        wait_for(lambda: "could not check a relay login" in captured.text(), timeout=30,
                 what="the relay's error at the Sentry stand-in")
    finally:
        relay.stop()
    [event] = [e for e in captured.events if e.get("server_name") == "relay"][:1]
    assert event["release"] == release() and event["environment"] == "test"
    assert PASSWORD not in captured.text()
