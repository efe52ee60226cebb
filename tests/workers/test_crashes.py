"""Nothing accepted is lost when workers die, and nothing loops forever.

These tests start and kill their own worker pools (no shared worker runs in
this module), with the broker's heartbeat timeout shortened as Dramatiq's
own tests do, so a dead worker's messages come back in seconds.
"""

from __future__ import annotations

import time

from tests.fixtures.worker import wait_for


def _deploy(account, model):
    agent = account.post("/v1/agents", json={"name": "bot", "model": model}).json()
    response = account.post(f"/v1/agents/{agent['id']}/deploy")
    assert response.status_code == 202
    return agent, response.json()["command_id"]


def _command(account, command_id):
    return account.get(f"/v1/commands/{command_id}").json()


def test_a_worker_killed_mid_command_does_not_lose_it(owner, start_worker):
    first = start_worker()
    agent, command_id = _deploy(owner, "sim:slow:4")
    wait_for(lambda: _command(owner, command_id)["status"] == "running", 30, what="the command to start")
    first.kill()  # SIGKILL mid-deploy: no ack, no cleanup
    assert _command(owner, command_id)["status"] == "running"

    start_worker()  # another worker picks the message up once the dead one's heartbeat expires
    command = wait_for(lambda: (c := _command(owner, command_id))["status"] in ("succeeded", "failed") and c,
                       60, what="the command to finish on the second worker")
    assert command["status"] == "succeeded", command
    assert command["attempts"] == 2
    assert owner.get(f"/v1/agents/{agent['id']}").json()["status"] == "deployed"


def test_a_message_that_kills_its_worker_ends_failed(owner, start_worker, settings):
    _, command_id = _deploy(owner, "sim:crash")
    deadline = time.monotonic() + 90
    restarts = 0
    # Play the process supervisor: restart the pool each time the poison message kills it.
    while _command(owner, command_id)["status"] != "failed":
        assert time.monotonic() < deadline, f"still {_command(owner, command_id)} after {restarts} restarts"
        worker = start_worker()
        while worker.alive and _command(owner, command_id)["status"] != "failed":
            time.sleep(0.1)
        worker.stop()
        restarts += 1
    command = _command(owner, command_id)
    limit = settings.commands.max_attempts
    assert command["attempts"] == limit
    assert command["error"] == (f"gave up after {limit} attempts: the worker running it stopped before "
                                "finishing (it may be crashing the worker)")
    assert restarts >= limit
