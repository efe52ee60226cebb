"""Idempotency-Key on every route that answers 202, end to end.

A frontend retries a request whose answer it never saw, possibly long after
the command finished. The same key with the same request must answer the
first command and change nothing; the same key with another request must be
a 409 naming the first command, never a silently dropped second request.
"""

from __future__ import annotations

import json
import uuid
from concurrent.futures import ThreadPoolExecutor

import pytest

from tests.fixtures.app import add_member
from tests.fixtures.mail import outbox
from tests.fixtures.worker import wait_for


def _key() -> dict:
    return {"Idempotency-Key": f"retry-{uuid.uuid4()}"}


def _finished(account, command_id, timeout=30):
    def done():
        body = account.get(f"/v1/commands/{command_id}").json()
        return body if body["status"] in ("succeeded", "failed") else None
    return wait_for(done, timeout, what=f"command {command_id} to finish")


def _accepted(response) -> str:
    assert response.status_code == 202, response.text
    return response.json()["command_id"]


def _refused_as_reused(response, first_command_id: str) -> None:
    assert response.status_code == 409, response.text
    error = response.json()["error"]
    assert error["code"] == "idempotency_key_reused"
    assert error["details"]["command_id"] == first_command_id


def test_a_deploy_retried_after_it_finished_is_the_same_command_and_leaves_the_agent_deployed(owner, worker, rows):
    agent = owner.post("/v1/agents", json={"name": "bot", "model": "gpt-4o"}).json()
    key = _key()
    first = _accepted(owner.post(f"/v1/agents/{agent['id']}/deploy", headers=key))
    assert _finished(owner, first)["status"] == "succeeded"

    again = owner.post(f"/v1/agents/{agent['id']}/deploy", headers=key)
    assert _accepted(again) == first and again.json()["status"] == "succeeded"
    assert again.headers["location"] == f"/v1/commands/{first}"
    after = owner.get(f"/v1/agents/{agent['id']}").json()
    assert (after["status"], after["deployed_version"]) == ("deployed", 1)  # was flipped back to "deploying"
    assert rows("select count(*) as n from commands where org_id = :o", o=owner.org_id) == [{"n": 1}]

    other = owner.post("/v1/agents", json={"name": "other", "model": "gpt-4o"}).json()
    _refused_as_reused(owner.post(f"/v1/agents/{other['id']}/deploy", headers=key), first)
    assert owner.get(f"/v1/agents/{other['id']}").json()["status"] == "draft"


def test_an_invitation_retried_is_one_invitation_and_a_reused_key_does_not_drop_the_second_person(
        owner, worker, settings):
    key = _key()
    grace = f"grace-{uuid.uuid4().hex[:8]}@example.com"
    first = _accepted(owner.post("/v1/team/invitations", json={"email": grace, "role": "member"}, headers=key))
    assert _finished(owner, first)["status"] == "succeeded"
    assert _accepted(owner.post("/v1/team/invitations", json={"role": "member", "email": grace}, headers=key)) == first

    alan = f"alan-{uuid.uuid4().hex[:8]}@example.com"
    _refused_as_reused(owner.post("/v1/team/invitations", json={"email": alan, "role": "member"}, headers=key), first)
    pending = [i["email"] for i in owner.get("/v1/team/invitations").json()["items"]]
    assert pending == [grace]
    assert len(wait_for(lambda: outbox(settings, grace), what="the invitation email")) == 1


def test_concurrent_requests_with_one_key_make_one_command(owner, worker):
    key = _key()
    email = f"race-{uuid.uuid4().hex[:8]}@example.com"
    with ThreadPoolExecutor(4) as pool:
        answers = list(pool.map(lambda _: owner.post("/v1/team/invitations", json={"email": email, "role": "member"},
                                                     headers=key), range(4)))
    assert {response.status_code for response in answers} == {202}
    assert len({response.json()["command_id"] for response in answers}) == 1
    assert [i["email"] for i in owner.get("/v1/team/invitations").json()["items"]] == [email]


def test_a_key_belongs_to_one_person(owner, worker, client, settings):
    admin = add_member(client, settings, owner.org_id, "admin")
    agent = owner.post("/v1/agents", json={"name": "bot", "model": "gpt-4o"}).json()
    key = _key()
    mine = _accepted(owner.post(f"/v1/agents/{agent['id']}/deploy", headers=key))
    theirs = _accepted(admin.post(f"/v1/agents/{agent['id']}/deploy", headers=key))
    assert mine != theirs


@pytest.fixture
def subscribed(owner, worker, webhook_edge, stand_in):
    """An owner on the Starter plan, subscribed with a key; (owner, key, command id)."""
    key = _key()
    first = _accepted(owner.post("/v1/billing/subscription", json={"plan": "starter", "payment_method": "pm_card_visa"},
                                 headers=key))
    assert _finished(owner, first)["status"] == "succeeded"
    return owner, key, first


def test_a_subscribe_retried_after_success_is_the_same_command_not_already_subscribed(subscribed, stand_in):
    owner, key, first = subscribed
    again = owner.post("/v1/billing/subscription", json={"plan": "starter", "payment_method": "pm_card_visa"},
                       headers=key)
    assert _accepted(again) == first  # the rules (already subscribed: 409) are not run for a retry
    assert len(stand_in.customers_of(owner.org_id)) == 1
    _refused_as_reused(owner.post("/v1/billing/subscription", json={"plan": "pro", "payment_method": "pm_card_visa"},
                                  headers=key), first)


def test_a_plan_change_retried_after_success_is_the_same_command_not_plan_unchanged(subscribed):
    owner, _, _ = subscribed
    key = _key()
    first = _accepted(owner.patch("/v1/billing/subscription", json={"seats": 12}, headers=key))
    assert _finished(owner, first)["status"] == "succeeded"
    assert _accepted(owner.patch("/v1/billing/subscription", json={"seats": 12}, headers=key)) == first
    _refused_as_reused(owner.patch("/v1/billing/subscription", json={"seats": 13}, headers=key), first)
    assert owner.get("/v1/billing/subscription").json()["seats"] == 12


def test_cancel_and_resume_retried_after_success_are_the_same_commands(subscribed):
    owner, _, _ = subscribed
    cancel_key, resume_key = _key(), _key()
    cancelled = _accepted(owner.delete("/v1/billing/subscription", headers=cancel_key))
    assert _finished(owner, cancelled)["status"] == "succeeded"
    assert _accepted(owner.delete("/v1/billing/subscription", headers=cancel_key)) == cancelled
    _refused_as_reused(owner.post("/v1/billing/subscription/resume", headers=cancel_key), cancelled)

    resumed = _accepted(owner.post("/v1/billing/subscription/resume", headers=resume_key))
    assert _finished(owner, resumed)["status"] == "succeeded"
    assert _accepted(owner.post("/v1/billing/subscription/resume", headers=resume_key)) == resumed
    assert owner.get("/v1/billing/subscription").json()["cancel_at_period_end"] is False


def test_every_route_answering_202_takes_an_idempotency_key_and_is_tested_here(client):
    document = client.get("/schema/openapi.json").json()
    commands = {f"{method.upper()} {path}": operation for path, item in document["paths"].items()
                for method, operation in item.items() if "202" in operation.get("responses", {})}
    # Not a command: every event carries its own idempotency key, `event_id` (docs/analytics.md,
    # tests/workers/test_events.py), which a batch-wide Idempotency-Key could only contradict.
    assert "event_id" in json.dumps(commands.pop("POST /v1/events"))
    # An admin's command: its retry test is in tests/admin/test_trial_extension.py.
    assert "Idempotency-Key" in json.dumps(commands.pop("POST /admin/v1/customers/{org_id}/trial-extensions"))
    # Not commands either: the routes that email a person a link about their own account. A retry sends a
    # newer link that replaces the older (domain/accounts/lifecycle.py), which is the retry's whole point.
    for route in ("POST /v1/auth/verify-email/resend", "POST /v1/auth/password-reset", "POST /v1/me/email"):
        commands.pop(route)
    # A new 202 route joins this list, and gets its retry test above.
    assert set(commands) == {"POST /v1/agents/{agent_id}/deploy", "POST /v1/team/invitations",
                             "POST /v1/billing/subscription", "PATCH /v1/billing/subscription",
                             "DELETE /v1/billing/subscription", "POST /v1/billing/subscription/resume"}
    for route, operation in commands.items():
        assert any(p["name"] == "Idempotency-Key" and p["in"] == "header" for p in operation["parameters"]), route
