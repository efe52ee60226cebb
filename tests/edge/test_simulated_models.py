"""Simulated models (`sim:...`) only where SIMULATED_MODELS allows them: never in production."""

from __future__ import annotations

import dataclasses

import pytest

from objecta.settings import AgentSettings
from tests.fixtures.app import client_of, sign_up


@pytest.fixture
def production_like(settings):
    """An edge like production's in this respect: simulated models off."""
    with client_of(dataclasses.replace(settings, agents=AgentSettings(simulated_models=False))) as client:
        yield sign_up(client)


def _refused(response):
    assert response.status_code == 422, response.text
    error = response.json()["error"]
    assert error["code"] == "simulated_model_unavailable"
    assert error["details"] == {"field": "model"}
    assert "sim:crash" in error["message"]


def test_creating_an_agent_with_a_simulated_model_is_refused_when_they_are_off(production_like):
    _refused(production_like.post("/v1/agents", json={"name": "bot", "model": "sim:crash"}))
    assert production_like.get("/v1/agents").json()["items"] == []  # nothing was created
    assert production_like.post("/v1/agents", json={"name": "bot", "model": "gpt-4o"}).status_code == 201


def test_editing_an_agent_to_a_simulated_model_is_refused_when_they_are_off(production_like):
    agent = production_like.post("/v1/agents", json={"name": "bot", "model": "gpt-4o"}).json()
    _refused(production_like.patch(f"/v1/agents/{agent['id']}", json={"model": "sim:crash"}))
    unchanged = production_like.get(f"/v1/agents/{agent['id']}").json()
    assert (unchanged["model"], unchanged["version"]) == ("gpt-4o", 1)
    # Other edits still go through.
    assert production_like.patch(f"/v1/agents/{agent['id']}", json={"name": "renamed"}).status_code == 200


def test_simulated_models_are_allowed_when_on(settings, owner):
    assert settings.agents.simulated_models  # the test environment's default
    created = owner.post("/v1/agents", json={"name": "bot", "model": "sim:slow:1"})
    assert created.status_code == 201, created.text
    edited = owner.patch(f"/v1/agents/{created.json()['id']}", json={"model": "sim:crash"})
    assert edited.status_code == 200 and edited.json()["model"] == "sim:crash"
