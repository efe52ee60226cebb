"""The plan's limits enforced: agents at the edge (a deployment configured with a small free plan)."""

from __future__ import annotations

from concurrent.futures import ThreadPoolExecutor

import httpx
import pytest

from tests.fixtures.app import client_with, sign_up

FREE_AGENTS = 2


@pytest.fixture(scope="module")
def small_client(settings):
    with client_with(settings, free_plan_agents=FREE_AGENTS) as test_client:
        yield test_client


def _create(account, name):
    return account.post("/v1/agents", json={"name": name, "model": "gpt-4o"})


def test_the_free_plans_agent_limit_refuses_one_more_and_names_the_plan_that_lifts_it(small_client):
    owner = sign_up(small_client)
    made = [_create(owner, f"bot {n}") for n in range(FREE_AGENTS)]
    assert [r.status_code for r in made] == [201] * FREE_AGENTS
    refused = _create(owner, "one too many")
    assert refused.status_code == 402, refused.text
    body = refused.json()["error"]
    assert body["code"] == "plan_limit_reached"
    assert body["details"] == {"limit": FREE_AGENTS, "used": FREE_AGENTS, "plan": "free", "upgrade_to": "starter"}
    assert "Free plan allows 2 agents" in body["message"] and "Starter" in body["message"]
    assert len(owner.get("/v1/agents").json()["items"]) == FREE_AGENTS
    # Deleting one frees its place; the limit is per organization.
    assert owner.delete(f"/v1/agents/{made[0].json()['id']}").status_code == 204
    assert _create(owner, "replacement").status_code == 201
    assert _create(sign_up(small_client), "elsewhere").status_code == 201


def test_the_configured_limits_are_what_the_plans_and_usage_report(small_client):
    owner = sign_up(small_client)
    free = next(p for p in small_client.get("/v1/billing/plans").json()["items"] if p["name"] == "free")
    assert free["agent_limit"] == FREE_AGENTS
    assert owner.get("/v1/billing/usage").json()["agents"] == {"used": 0, "limit": FREE_AGENTS}
    assert owner.get("/v1/billing/subscription").json()["agent_limit"] == FREE_AGENTS


def test_concurrent_creates_cannot_overshoot_the_limit(owner, webhook_edge, settings):
    # A real edge process (uvicorn), so the requests really overlap; its free plan has the default limit.
    limit = settings.billing.free_plan_agents
    with httpx.Client(base_url=webhook_edge, headers=owner.headers, timeout=30) as http:
        with ThreadPoolExecutor(max_workers=limit * 2) as pool:
            answers = list(pool.map(lambda n: http.post("/v1/agents", json={"name": f"racer {n}", "model": "m"}),
                                    range(limit * 2)))
    assert sorted(a.status_code for a in answers) == [201] * limit + [402] * limit
    assert len(owner.get("/v1/agents").json()["items"]) == limit
