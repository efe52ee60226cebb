"""`objecta dlq`: a dead-lettered command is listed, replayed through the pipeline once fixed, or purged.

Runs on the session's broker (Valkey by default); with BROKER_URL=amqp://... the
same tests exercise the RabbitMQ store (`<queue>.XQ` read with basic_get).
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time

import pytest
import redis

from domain.realtime import stream_key, user_channel
from tests.fixtures.worker import wait_for


def dlq(test_env, *args: str) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "objecta.cli", "dlq", *args], env={**os.environ, **test_env},
                          capture_output=True, text=True, timeout=60, stdin=subprocess.DEVNULL)


def letters(test_env, queue="agents") -> list[dict]:
    listed = dlq(test_env, "list", "--queue", queue, "--json")
    assert listed.returncode == 0, listed.stderr
    return [json.loads(line) for line in listed.stdout.splitlines()]


def letter_of(test_env, command_id: str) -> dict | None:
    return next((letter for letter in letters(test_env) if (letter["command"] or {}).get("id") == command_id), None)


def _command(account, command_id):
    return account.get(f"/v1/commands/{command_id}").json()


def _deploy(account, model):
    agent = account.post("/v1/agents", json={"name": "bot", "model": model}).json()
    response = account.post(f"/v1/agents/{agent['id']}/deploy")
    assert response.status_code == 202, response.text
    return agent, response.json()["command_id"]


def test_a_dead_lettered_command_is_listed_then_replayed_after_the_fix(owner, start_worker, test_env, settings):
    worker = start_worker(["workers.agents"])
    agent, command_id = _deploy(owner, "sim:flaky:99")  # fails transiently on every attempt
    wait_for(lambda: _command(owner, command_id)["status"] == "failed", 60, what="the command to give up")
    letter = wait_for(lambda: letter_of(test_env, command_id), 20, what="the dead letter")
    assert letter["actor"] == "agents.deploy" and letter["queue"] == "agents"
    assert letter["attempts"] == settings.commands.max_attempts
    assert letter["reason"].startswith("GiveUp: gave up after 3 attempts: runtime busy")  # noted by the pool
    assert letter["dead_at"] is not None
    human = dlq(test_env, "list", "--queue", "agents").stdout
    assert letter["id"] in human and "agent.deploy" in human

    # The cause is fixed (the agent gets a model that works); the replay goes through the pipeline.
    assert owner.patch(f"/v1/agents/{agent['id']}", json={"model": "gpt-4o"}).status_code == 200
    replayed = dlq(test_env, "replay", letter["id"])
    assert replayed.returncode == 0 and "replayed 1" in replayed.stdout, replayed.stderr
    command = wait_for(lambda: (c := _command(owner, command_id))["status"] == "succeeded" and c, 30,
                       what="the replayed command to succeed")
    assert command["attempts"] == 1, command  # a fresh set of attempts
    assert owner.get(f"/v1/agents/{agent['id']}").json()["status"] == "deployed"
    assert letter_of(test_env, command_id) is None
    assert worker.alive

    # The relay tells the sender: its stream (what the relay forwards and replays) has queued, then succeeded.
    stream = redis.Redis.from_url(test_env["REDIS_URL"]).xrange(stream_key(user_channel(owner.user_id)))
    events = [json.loads(fields[b"event"]) for _, fields in stream]
    statuses = [event["data"]["status"] for event in events
                if event["type"] == "command.updated" and event["data"]["id"] == command_id]
    assert statuses[-3:] == ["queued", "running", "succeeded"], statuses
    assert "failed" in statuses[:-3]


def test_a_poison_message_is_dead_lettered_and_purged_only_when_confirmed(owner, start_worker, test_env, settings):
    _, command_id = _deploy(owner, "sim:crash")
    deadline = time.monotonic() + 90
    while _command(owner, command_id)["status"] != "failed":  # restart the pool as a supervisor would
        assert time.monotonic() < deadline, _command(owner, command_id)
        worker = start_worker(["workers.agents"])
        while worker.alive and _command(owner, command_id)["status"] != "failed":
            time.sleep(0.1)
        worker.stop()
    letter = wait_for(lambda: letter_of(test_env, command_id), 20, what="the poison message's dead letter")
    assert "stopped before finishing" in letter["reason"]

    refused = dlq(test_env, "purge", "--queue", "agents")  # no terminal, no --yes: nothing dropped
    assert refused.returncode == 2 and "--yes" in refused.stderr
    assert letter_of(test_env, command_id) is not None
    purged = dlq(test_env, "purge", "--queue", "agents", "--yes")
    assert purged.returncode == 0 and "purged" in purged.stdout
    assert letters(test_env) == []
    assert dlq(test_env, "replay").returncode == 2  # neither an id nor --all


@pytest.mark.skipif(not os.environ.get("BROKER_URL", "").startswith("amqp"),
                    reason="RabbitMQ's store: only with BROKER_URL=amqp://... (CI's second pass)")
def test_listing_rabbitmq_dead_letters_takes_none_of_them(owner, start_worker, test_env, settings):
    """RabbitMQ can only be read by taking messages: `list` must give every one back, with its x-death time."""
    from objecta.deadletters import RabbitDeadLetters
    from objecta.connections import amqp_url

    start_worker(["workers.agents"])
    _, command_id = _deploy(owner, "sim:flaky:99")
    wait_for(lambda: letter_of(test_env, command_id), 60, what="the dead letter")
    store = RabbitDeadLetters(amqp_url(settings.broker.url), ["agents"])
    first = [(letter.id, letter.dead_at) for letter in store.letters("agents")]
    second = [(letter.id, letter.dead_at) for letter in store.letters("agents")]
    assert sorted(first) == sorted(second) and first
    assert all(dead_at is not None for _, dead_at in first)
    assert dlq(test_env, "purge", "--queue", "agents", "--yes").returncode == 0
    assert store.letters("agents") == []
