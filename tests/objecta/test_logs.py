"""LOG_FORMAT=json: one JSON object a line, one request id along the whole path, and no secret in any line.

A real edge (uvicorn) and a real worker pool, both logging JSON at DEBUG (the
most they ever say), and a person who signs up, logs in, deploys and pays.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import uuid

import httpx
import redis

from domain.realtime import stream_key, user_channel
from objecta import embedded
from objecta.logs import redact
from tests.fixtures.relay import REPO
from tests.fixtures.worker import wait_for

JSON_LOGS = {"LOG_FORMAT": "json", "LOG_LEVEL": "DEBUG"}
PASSWORD = "a secret password 93f1c2"


class Edge:
    """`uvicorn --factory edge.app:create_app` with its access log on: request lines are logged too."""

    def __init__(self, env: dict, log_path):
        self.port = embedded.free_port()
        self.url, self.log_path = f"http://127.0.0.1:{self.port}", log_path
        with open(log_path, "ab") as log:
            self.process = subprocess.Popen(
                [sys.executable, "-m", "uvicorn", "--factory", "edge.app:create_app", "--host", "127.0.0.1",
                 "--port", str(self.port)], env={**os.environ, **env}, cwd=REPO, stdout=log, stderr=subprocess.STDOUT)
        embedded.wait_for_http(self.url + "/healthz", self.process, 30, "edge", log_path)

    def stop(self) -> int:
        self.process.terminate()
        return self.process.wait(15)


def json_lines(text: str) -> list[dict]:
    return [json.loads(line) for line in text.splitlines() if line.startswith("{")]


def test_one_request_id_finds_the_request_the_command_the_worker_and_the_relay_message_and_no_secret_leaks(
        test_env, settings, start_worker, tmp_path):
    edge = Edge({**test_env, **JSON_LOGS}, tmp_path / "edge.log")
    worker = start_worker(["workers.agents", "workers.billing", "workers.notifications", "workers.email"],
                          env=JSON_LOGS)
    try:
        http = httpx.Client(base_url=edge.url, timeout=30)
        email = f"owner-{uuid.uuid4().hex[:12]}@example.com"
        signed_up = http.post("/v1/auth/signup", json={"email": email, "password": PASSWORD, "name": "Owner",
                                                       "organization_name": "Acme"})
        assert signed_up.status_code == 201, signed_up.text
        generated = signed_up.headers["x-request-id"]
        assert len(generated) >= 16  # none offered: one was made
        assert http.post("/v1/auth/login", json={"email": email, "password": "wrong " + PASSWORD}).status_code == 401
        tokens = http.post("/v1/auth/login", json={"email": email, "password": PASSWORD}).json()
        refreshed = http.post("/v1/auth/refresh", json={"refresh_token": tokens["refresh_token"]}).json()
        http.headers["Authorization"] = f"Bearer {refreshed['access_token']}"
        # A client that puts its token in the URL (as the relay wants it): the access log line names the path.
        http.get("/v1/me", params={"token": refreshed["access_token"], "password": PASSWORD})
        # A malformed id is not taken (it would go into every log line): a new one is answered instead.
        assert http.get("/v1/me", headers={"X-Request-ID": "bad id {\"x\": 1}"}).headers["x-request-id"] != "bad id {\"x\": 1}"

        request_id = f"req-{uuid.uuid4().hex}"
        agent = http.post("/v1/agents", json={"name": "bot", "model": "gpt-4o"}).json()
        deployed = http.post(f"/v1/agents/{agent['id']}/deploy", headers={"X-Request-ID": request_id})
        assert deployed.status_code == 202 and deployed.headers["x-request-id"] == request_id
        command_id = deployed.json()["command_id"]
        paid = http.post("/v1/billing/subscription", json={"plan": "starter", "payment_method": "pm_card_visa"})
        for command in (command_id, paid.json()["command_id"]):
            wait_for(lambda c=command: http.get(f"/v1/commands/{c}").json()["status"] == "succeeded", 60,
                     what=f"command {command}")

        # The relay message: command.updated carries the id of the request that accepted the command.
        user_id = tokens["user_id"]
        stream = redis.Redis.from_url(test_env["REDIS_URL"]).xrange(stream_key(user_channel(user_id)))
        events = [json.loads(fields[b"event"]) for _, fields in stream]
        updates = [e["data"] for e in events if e["type"] == "command.updated" and e["data"]["id"] == command_id]
        assert updates and all(update["request_id"] == request_id for update in updates)

        wait_for(lambda: any(line.get("request_id") == request_id and command_id in line["message"]
                             and "succeeded" in line["message"] for line in json_lines(worker.log_path.read_text())),
                 20, what="the worker's line for the command, with the request id")
    finally:
        edge.stop()
    edge_log, worker_log = edge.log_path.read_text(), worker.log_path.read_text()

    # The edge: every line JSON. The pool: every line of its worker processes (Dramatiq's main process
    # writes its own few lines in its own format; `--skip-logging` silences it, docs/operations.md).
    assert edge_log.strip() and all(line.startswith("{") for line in edge_log.splitlines() if line.strip())
    assert all(line.startswith("{") or "MainProcess" in line or "Fork" in line
               for line in worker_log.splitlines() if line.strip())
    worker_lines = json_lines(worker_log)
    assert {"time", "level", "process", "logger", "message", "request_id"} <= set(worker_lines[0])

    secrets = {"password": PASSWORD, "access token": tokens["access_token"], "refresh token": tokens["refresh_token"],
               "refreshed access token": refreshed["access_token"],
               "JWT secret": settings.auth.jwt_secret, "webhook secret": settings.billing.webhook_secret,
               "admin JWT secret": settings.admin.jwt_secret}
    for name, secret in secrets.items():
        assert secret not in edge_log and secret not in worker_log, f"the {name} is in a log line"
    assert "GET /v1/me?token=[redacted]&password=[redacted]" in edge_log  # the line is there, blanked


def test_redaction_blanks_secrets_and_leaves_ids_alone():
    assert redact('{"password": "hunter2 hunter2", "email": "a@example.com"}') == \
        '{"password": [redacted], "email": "a@example.com"}'
    assert "eyJ" not in redact("Authorization: Bearer eyJhbGciOiJIUzI1NiJ9.eyJzdWIiOiIxIn0.c2ln")
    assert redact("keys sk_live_abc123 whsec_xyz obk_k3y") == "keys [redacted] [redacted] [redacted]"
    assert redact("card 4242 4242 4242 4242 and 4000000000000002") == "card [redacted] and [redacted]"
    kept = "command 41234567-8123-4567-9123-456789012345 took 1234567890123 ms"  # not Luhn, not a card
    assert redact(kept) == kept
    assert redact("refresh_token=abc&x=1") == "refresh_token=[redacted]&x=1"
