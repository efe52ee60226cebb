"""What a request costs in Postgres round trips (counted by a proxy, never timed).

A command is the hot path (issue 15): the transaction begins with its tenant and the caller's
authorization in one round trip (psycopg pipeline, our own BEGIN), and the command's row goes out with
COMMIT. A deploy then costs two: begin + authorize + the plan's standing + the agent locked, then the
command's row + the agent's status + commit.
"""

from __future__ import annotations

import dataclasses
from urllib.parse import urlsplit

import pytest

import domain.db
from tests.fixtures.app import add_member, client_of, sign_up
from tests.fixtures.round_trips import RoundTripCounter


@pytest.fixture
def counted(settings, monkeypatch):
    """A client of an edge whose database connections go through a round-trip counter."""
    # Connections here are reused at once; a slow machine must not add the idle ping to the count.
    monkeypatch.setattr(domain.db, "IDLE_PING_AFTER", 3600.0)
    upstream = urlsplit(settings.database.app_url)
    counter = RoundTripCounter(upstream.hostname, upstream.port)
    proxied = dataclasses.replace(settings, database=dataclasses.replace(
        settings.database, app_url=counter.url_for(settings.database.app_url)))
    with client_of(proxied) as client:
        yield client, counter
    counter.close()


def test_a_deploy_costs_two_round_trips_and_a_read_three(counted, rows):
    client, counter = counted
    owner = sign_up(client)
    agent = client.post("/v1/agents", json={"name": "a", "model": "gpt-4o"}, headers=owner.headers).json()
    counter.reset()
    assert client.post(f"/v1/agents/{agent['id']}/deploy", headers=owner.headers).status_code == 202
    first = counter.count  # draft -> deploying: the status goes out with the COMMIT too
    counter.reset()
    assert client.post(f"/v1/agents/{agent['id']}/deploy", headers=owner.headers).status_code == 202
    again = counter.count
    counter.reset()
    read = client.get(f"/v1/agents/{agent['id']}", headers=owner.headers)
    assert (first, again, counter.count) == (2, 2, 3)  # read: begin + authorize, the agent, commit
    assert read.json()["status"] == "deploying"
    assert rows("select count(*) as n from commands where org_id = :o", o=owner.org_id) == [{"n": 2}]


def test_the_authorization_sent_with_begin_still_refuses_every_caller_it_must(counted, settings, rows):
    """The membership and session check rides in the first round trip; its answer is still the gate."""
    client, _ = counted
    owner = sign_up(client)
    agent = client.post("/v1/agents", json={"name": "a", "model": "gpt-4o"}, headers=owner.headers).json()
    deploy = f"/v1/agents/{agent['id']}/deploy"

    viewer = add_member(client, settings, owner.org_id, "viewer")
    refused = client.post(deploy, headers=viewer.headers)
    assert (refused.status_code, refused.json()["error"]["details"]["permission"]) == (403, "agents.deploy")

    removed = add_member(client, settings, owner.org_id, "admin")
    assert client.delete(f"/v1/team/members/{removed.user_id}", headers=owner.headers).status_code == 204
    gone = client.post(deploy, headers=removed.headers)
    assert (gone.status_code, gone.json()["error"]["code"]) == (401, "session_revoked")

    left = add_member(client, settings, owner.org_id, "admin")
    assert client.post("/v1/auth/logout", headers=left.headers).status_code == 204
    ended = client.post(deploy, headers=left.headers)
    assert (ended.status_code, ended.json()["error"]["code"]) == (401, "session_revoked")

    # The agent is locked and read with BEGIN too, before the answer above is known: another
    # organization's agent is still invisible (row-level security), an unknown one a 404.
    stranger = sign_up(client)
    assert client.post(deploy, headers=stranger.headers).json()["error"]["code"] == "agent_not_found"
    unknown = client.post("/v1/agents/00000000-0000-4000-8000-000000000000/deploy", headers=owner.headers)
    assert (unknown.status_code, unknown.json()["error"]["code"]) == (404, "agent_not_found")

    rows("update organizations set suspended_at = now() where id = :o returning id", o=owner.org_id)
    suspended = client.post(deploy, headers=owner.headers)
    assert (suspended.status_code, suspended.json()["error"]["code"]) == (403, "organization_suspended")
    assert rows("select count(*) as n from commands where org_id = :o", o=owner.org_id) == [{"n": 0}]
    assert rows("select status from agents where id = :a", a=agent["id"]) == [{"status": "draft"}]


def test_an_agent_error_costs_three_round_trips_and_still_checks_the_caller_and_the_agent(counted, settings, rows):
    """Reported by a running agent, so a hot path: begin + authorize + the agent's name, the platform's
    analytics event, the error's row + COMMIT. The agent read with BEGIN is used only once the caller passed."""
    client, counter = counted
    owner = sign_up(client)
    agent = client.post("/v1/agents", json={"name": "a", "model": "gpt-4o"}, headers=owner.headers).json()
    report = f"/v1/agents/{agent['id']}/errors"
    assert client.post(report, json={"message": "first"}, headers=owner.headers).status_code == 201
    counter.reset()
    answer = client.post(report, json={"message": "timed out", "code": "tool"}, headers=owner.headers)
    assert (answer.status_code, counter.count) == (201, 3)
    assert answer.json()["message"] == "timed out" and answer.json()["agent_id"] == agent["id"]
    stored = rows("select code, message, created_at from agent_errors where id = :i", i=answer.json()["id"])
    assert [(r["code"], r["message"]) for r in stored] == [("tool", "timed out")]

    viewer = add_member(client, settings, owner.org_id, "viewer")
    refused = client.post(report, json={"message": "no"}, headers=viewer.headers)
    assert (refused.status_code, refused.json()["error"]["details"]["permission"]) == (403, "agents.manage")
    missing = client.post("/v1/agents/00000000-0000-4000-8000-000000000000/errors", json={"message": "no"},
                          headers=owner.headers)
    assert (missing.status_code, missing.json()["error"]["code"]) == (404, "agent_not_found")
    assert rows("select message from agent_errors where org_id = :o order by created_at", o=owner.org_id) == [
        {"message": "first"}, {"message": "timed out"}]
