"""A worker whose SIMULATED_MODELS is off refuses to simulate, even for an agent made while it was on."""

from __future__ import annotations

from tests.fixtures.worker import wait_for


def test_a_worker_with_simulated_models_off_fails_the_deploy_instead_of_crashing(owner, start_worker):
    # The edge of this run allows them (test default): the agent stands for one created before they were turned off.
    agent = owner.post("/v1/agents", json={"name": "bot", "model": "sim:crash"}).json()
    worker = start_worker(env={"SIMULATED_MODELS": "false"})
    command_id = owner.post(f"/v1/agents/{agent['id']}/deploy").json()["command_id"]
    command = wait_for(lambda: (c := owner.get(f"/v1/commands/{command_id}").json())["status"] == "failed" and c,
                       30, what="the deploy to fail")
    assert command["attempts"] == 1  # refused for good, not retried
    assert command["error"] == ("model 'sim:crash' is not available: simulated models are turned off here; "
                                "choose another model and deploy again")
    assert worker.alive, worker.log()
    assert owner.get(f"/v1/agents/{agent['id']}").json()["status"] == "failed"
