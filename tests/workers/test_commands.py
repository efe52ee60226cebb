"""The command pipeline end to end: edge → Postgres → broker → worker → Postgres."""

from __future__ import annotations

import asyncio
import uuid

import pytest

from domain.agents import service as agents
from domain.db import Database
from objecta import wiring
from tests.fixtures.worker import wait_for


def _agent(account, model="gpt-4o"):
    response = account.post("/v1/agents", json={"name": "bot", "model": model})
    assert response.status_code == 201
    return response.json()


def _deploy(account, agent_id, key=None):
    headers = {"Idempotency-Key": key} if key else {}
    return account.post(f"/v1/agents/{agent_id}/deploy", headers=headers)


def _finished(account, command_id, timeout=30):
    def done():
        body = account.get(f"/v1/commands/{command_id}").json()
        return body if body["status"] in ("succeeded", "failed") else None
    return wait_for(done, timeout, what=f"command {command_id} to finish")


def test_deploy_is_accepted_then_carried_out(owner, worker):
    agent = _agent(owner)
    response = _deploy(owner, agent["id"])
    assert response.status_code == 202
    body = response.json()
    assert body["status"] == "queued"
    assert response.headers["location"] == f"/v1/commands/{body['command_id']}"
    assert owner.get(f"/v1/agents/{agent['id']}").json()["status"] == "deploying"

    command = _finished(owner, body["command_id"])
    assert command["status"] == "succeeded", command
    assert command["kind"] == "agent.deploy" and command["attempts"] == 1
    assert command["result"]["endpoint"] == f"local://agents/{agent['id']}/v1"
    deployed = owner.get(f"/v1/agents/{agent['id']}").json()
    assert (deployed["status"], deployed["deployed_version"]) == ("deployed", 1)


def test_a_retried_request_with_the_same_key_is_the_same_command(owner, worker):
    agent = _agent(owner)
    key = f"deploy-{uuid.uuid4()}"
    first, second = _deploy(owner, agent["id"], key), _deploy(owner, agent["id"], key)
    assert first.status_code == second.status_code == 202
    assert first.json()["command_id"] == second.json()["command_id"]
    other_agent = _agent(owner)
    reused = _deploy(owner, other_agent["id"], key)
    assert reused.status_code == 409
    assert reused.json()["error"]["code"] == "idempotency_key_reused"
    assert _finished(owner, first.json()["command_id"])["status"] == "succeeded"


def test_a_failing_command_fails_with_a_readable_error(owner, worker):
    agent = _agent(owner, model="sim:unavailable")
    command = _finished(owner, _deploy(owner, agent["id"]).json()["command_id"])
    assert command["status"] == "failed"
    assert command["error"] == "model 'sim:unavailable' is not available; choose another model and deploy again"
    assert command["attempts"] == 1  # a permanent failure is not retried
    assert owner.get(f"/v1/agents/{agent['id']}").json()["status"] == "failed"


def test_transient_failures_are_retried_with_backoff(owner, worker):
    agent = _agent(owner, model="sim:flaky:2")
    command = _finished(owner, _deploy(owner, agent["id"]).json()["command_id"], timeout=60)
    assert command["status"] == "succeeded", command
    assert command["attempts"] == 3


def test_transient_failures_give_up_after_the_last_attempt(owner, worker, settings):
    agent = _agent(owner, model="sim:flaky:99")
    command = _finished(owner, _deploy(owner, agent["id"]).json()["command_id"], timeout=60)
    assert command["status"] == "failed"
    assert command["attempts"] == settings.commands.max_attempts
    assert command["error"].startswith(f"gave up after {settings.commands.max_attempts} attempts: runtime busy")


def test_another_tenants_command_is_404(owner, other_owner, worker):
    agent = _agent(other_owner)
    command_id = _deploy(other_owner, agent["id"]).json()["command_id"]
    assert owner.get(f"/v1/commands/{command_id}").status_code == 404
    assert owner.post(f"/v1/agents/{agent['id']}/deploy").status_code == 404


def test_viewers_cannot_deploy(client, settings, owner):
    from tests.fixtures.app import add_member
    viewer = add_member(client, settings, owner.org_id, "viewer")
    assert viewer.post(f"/v1/agents/{_agent(owner)['id']}/deploy").status_code == 403


class Recorder:
    def __init__(self):
        self.sent = []

    def send(self, job):
        self.sent.append(job)


def test_a_rolled_back_transaction_enqueues_nothing(settings, owner):
    agent = _agent(owner)
    recorder = Recorder()

    async def scenario():
        db = Database(settings.database.app_url, pool_size=1, jobs=recorder)
        org, user = uuid.UUID(owner.org_id), uuid.UUID(owner.user_id)
        try:
            with pytest.raises(RuntimeError):
                async with db.transaction(org_id=org, user_id=user) as session:
                    await agents.request_deploy(session, uuid.UUID(agent["id"]), user_id=user,
                                                limits=wiring.plan_limits(settings), idempotency=None)
                    raise RuntimeError("the request failed after the command was written")
            assert recorder.sent == []
            async with db.transaction(org_id=org, user_id=user) as session:
                command = await agents.request_deploy(session, uuid.UUID(agent["id"]), user_id=user,
                                                      limits=wiring.plan_limits(settings), idempotency=None)
                assert recorder.sent == []  # not before the commit either
            return command
        finally:
            await db.dispose()

    command = asyncio.run(scenario())
    assert [(j.queue, j.actor, j.args) for j in recorder.sent] == [
        ("agents", "agents.deploy", (str(command.id), owner.org_id))]
    # The rolled-back command left no row behind either.
    assert owner.get(f"/v1/agents/{agent['id']}").json()["status"] == "deploying"


def test_the_sender_sees_the_command_finish_on_the_relay_without_polling(owner, worker, start_relay):
    import json
    relay = start_relay()
    agent = _agent(owner, model="sim:slow:0.5")
    with relay.connect(owner) as browser:
        command_id = _deploy(owner, agent["id"]).json()["command_id"]
        statuses = []
        while not statuses or statuses[-1] not in ("succeeded", "failed"):
            event = json.loads(browser.recv(timeout=30))
            if event["type"] != "command.updated":
                continue  # the deploy's notification may arrive on the same channel
            assert event["data"]["id"] == command_id
            statuses.append(event["data"]["status"])
    assert statuses == ["running", "succeeded"]
    assert event["data"]["result"]["endpoint"].startswith("local://agents/")
