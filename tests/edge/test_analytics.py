"""POST /v1/events refuses bad batches whole, API keys do events only, reports stay in their tenant.

No worker runs here: an accepted batch stores its events and its
`event_batches` row in its request (decision 124), so what a refused batch
leaves behind is read from there.
"""

from __future__ import annotations

import uuid
from datetime import datetime, timedelta, timezone

import pytest

from tests.fixtures.app import add_member


def _event(**fields):
    return {"event_id": uuid.uuid4().hex, "name": "page.view", **fields}


def _batches(rows, org_id) -> int:
    return rows("select count(*) as n from event_batches where org_id = :o", o=org_id)[0]["n"]


@pytest.fixture
def agent(owner):
    return owner.post("/v1/agents", json={"name": "bot", "model": "gpt-4o"}).json()


@pytest.fixture
def api_key(owner):
    response = owner.post("/v1/api-keys", json={"name": "backend"})
    assert response.status_code == 201, response.text
    return response.json()


def _send(client, key, events):
    return client.post("/v1/events", json={"events": events}, headers={"Authorization": f"Bearer {key}"})


def test_a_batch_is_accepted_with_a_token_and_with_a_key(owner, api_key, agent, client, rows):
    response = owner.post("/v1/events", json={"events": [_event(agent_id=agent["id"]), _event()]})
    assert response.status_code == 202, response.text
    assert response.json()["accepted"] == 2
    by_key = _send(client, api_key["key"], [_event(properties={"plan": "pro"})])
    assert by_key.status_code == 202, by_key.text
    assert {b["id"] for b in rows("select id::text from event_batches where org_id = :o", o=owner.org_id)} >= {
        response.json()["batch_id"], by_key.json()["batch_id"]}


def test_duplicates_within_a_batch_are_accepted_and_kept_once(owner, rows):
    event = _event()
    response = owner.post("/v1/events", json={"events": [event, event, {**event, "name": "other"}]})
    assert response.status_code == 202
    assert response.json()["accepted"] == 3
    [batch] = rows("select event_count from event_batches where id = :b", b=response.json()["batch_id"])
    assert batch["event_count"] == 1
    [stored] = rows("select name from analytics_events where org_id = :o and event_id = :e",
                    o=owner.org_id, e=event["event_id"])
    assert stored["name"] == "page.view"  # the first of the duplicates


def _refused(response, *expected: tuple[int, str]):
    assert response.status_code == 422, response.text
    error = response.json()["error"]
    assert error["code"] == "invalid_events"
    found = {(p["index"], p["field"]) for p in error["details"]["events"]}
    assert found == set(expected), error
    return error


def test_every_malformed_event_is_named_by_index_and_field(owner, rows):
    cases = [
        _event(),
        {"name": "no.id"},  # 1: missing event_id
        _event(event_id="x" * 129),  # 2: over-long event_id
        _event(name="bad name!"),  # 3: a name outside the pattern
        _event(properties=[1, 2]),  # 4: properties not an object
        _event(occurred_at="2026-01-01T00:00:00"),  # 5: no time zone
        _event(colour="red", agent_id="not-a-uuid"),  # 6: unknown field, and a bad agent_id
        "page.view",  # 7: not an object
    ]
    before = _batches(rows, owner.org_id)
    error = _refused(owner.post("/v1/events", json={"events": cases}),
                     (1, "event_id"), (2, "event_id"), (3, "name"), (4, "properties"), (5, "occurred_at"),
                     (6, "colour"), (6, "agent_id"), (7, ""))
    assert "7 of 8 events" in error["message"]
    assert _batches(rows, owner.org_id) == before  # nothing of a refused batch is stored


def test_every_event_breaking_a_rule_is_named_by_index_and_field(owner, other_owner, rows):
    theirs = other_owner.post("/v1/agents", json={"name": "theirs", "model": "gpt-4o"}).json()
    now = datetime.now(timezone.utc)
    cases = [
        _event(),
        _event(agent_id=theirs["id"]),  # 1: another organization's agent
        _event(occurred_at=(now + timedelta(minutes=10)).isoformat()),  # 2: in the future
        _event(occurred_at=(now - timedelta(days=400)).isoformat()),  # 3: older than the retention
        _event(properties={"blob": "x" * 9000}),  # 4: properties over 8 KB
        _event(name="message.created"),  # 5: reserved for the platform
        _event(occurred_at=(now + timedelta(minutes=4)).isoformat(), agent_id=str(uuid.uuid4())),  # 6: unknown agent
    ]
    before = _batches(rows, owner.org_id)
    error = _refused(owner.post("/v1/events", json={"events": cases}),
                     (1, "agent_id"), (2, "occurred_at"), (3, "occurred_at"), (4, "properties"), (5, "name"),
                     (6, "agent_id"))
    assert "6 of 7 events" in error["message"]
    assert _batches(rows, owner.org_id) == before


def test_one_bad_field_among_rule_checks_refuses_the_whole_batch(owner, rows):
    now = datetime.now(timezone.utc)
    before = _batches(rows, owner.org_id)
    _refused(owner.post("/v1/events", json={"events": [_event(), _event(
        occurred_at=(now + timedelta(hours=1)).isoformat())]}), (1, "occurred_at"))
    assert _batches(rows, owner.org_id) == before


def test_batch_limits(owner, client, rows):
    _refused(owner.post("/v1/events", json={"events": [_event() for _ in range(1001)]}), (-1, "events"))
    _refused(owner.post("/v1/events", json={"events": []}), (-1, "events"))
    _refused(owner.post("/v1/events", json={"items": []}), (-1, "events"))
    too_big = owner.post("/v1/events", content=b'{"events": [' + b" " * (10 * 1024 * 1024) + b"]}",
                         headers={"content-type": "application/json"})
    assert too_big.status_code == 413
    assert too_big.json()["error"]["code"] == "payload_too_large"
    malformed = owner.post("/v1/events", content=b'{"events": [', headers={"content-type": "application/json"})
    assert malformed.status_code == 400
    assert client.post("/v1/events", json={"events": [_event()]}).status_code == 401


def test_api_keys_are_shown_once_stored_hashed_and_listed_with_last_use(owner, api_key, client, rows):
    assert api_key["key"].startswith("obk_") and len(api_key["key"]) > 40
    assert api_key["prefix"] == api_key["key"][:12]
    [stored] = rows("select * from api_keys where id = :i", i=api_key["id"])
    assert api_key["key"] not in str(stored.values())
    listed = owner.get("/v1/api-keys").json()["items"]
    assert [k["id"] for k in listed] == [api_key["id"]]
    assert "key" not in listed[0] and listed[0]["last_used_at"] is None
    assert _send(client, api_key["key"], [_event()]).status_code == 202
    assert owner.get("/v1/api-keys").json()["items"][0]["last_used_at"] is not None


def test_a_revoked_or_unknown_key_is_refused(owner, api_key, client):
    assert owner.delete(f"/v1/api-keys/{api_key['id']}").status_code == 204
    refused = _send(client, api_key["key"], [_event()])
    assert refused.status_code == 401
    assert refused.json()["error"]["code"] == "invalid_api_key"
    assert _send(client, "obk_" + "A" * 43, [_event()]).json()["error"]["code"] == "invalid_api_key"
    assert owner.get("/v1/api-keys").json()["items"][0]["revoked_at"] is not None


def test_a_key_cannot_call_any_other_route(api_key, client):
    headers = {"Authorization": f"Bearer {api_key['key']}"}
    for method, path in (("GET", "/v1/me"), ("GET", "/v1/analytics/realtime"), ("GET", "/v1/api-keys"),
                         ("POST", "/v1/api-keys"), ("GET", "/v1/agents")):
        response = client.request(method, path, headers=headers, json={"name": "x"} if method == "POST" else None)
        assert response.status_code == 403, (path, response.text)
        assert response.json()["error"]["code"] == "api_key_not_allowed"


def test_only_owners_and_admins_manage_keys(owner, client, settings):
    member = add_member(client, settings, owner.org_id, "member")
    assert member.post("/v1/api-keys", json={"name": "mine"}).status_code == 403
    assert member.get("/v1/api-keys").status_code == 403
    admin = add_member(client, settings, owner.org_id, "admin")
    assert admin.post("/v1/api-keys", json={"name": "theirs"}).status_code == 201
    viewer = add_member(client, settings, owner.org_id, "viewer")
    assert viewer.post("/v1/events", json={"events": [_event()]}).status_code == 403


def test_a_key_of_one_organization_never_reaches_another(owner, other_owner, api_key, client):
    theirs = other_owner.post("/v1/agents", json={"name": "theirs", "model": "gpt-4o"}).json()
    _refused(_send(client, api_key["key"], [_event(agent_id=theirs["id"])]), (0, "agent_id"))
    their_key = other_owner.post("/v1/api-keys", json={"name": "k"}).json()
    assert owner.delete(f"/v1/api-keys/{their_key['id']}").status_code == 404
    assert [k["id"] for k in owner.get("/v1/api-keys").json()["items"]] == [api_key["id"]]


def test_report_periods(owner):
    assert owner.get("/v1/analytics/daily", params={"from": "2026-01-01", "to": "2027-01-02"}).status_code == 422
    assert owner.get("/v1/analytics/daily", params={"from": "2026-01-02", "to": "2026-01-01"}).status_code == 422
    report = owner.get("/v1/analytics/daily", params={"from": "2026-01-01", "to": "2026-12-31"}).json()
    assert len(report["days"]) == 365 and report["series"]["events"] == [0] * 365
    csv = owner.get("/v1/analytics/agents", params={"from": "2026-01-01", "to": "2026-01-31"},
                    headers={"Accept": "text/csv"})
    assert csv.headers["content-type"].startswith("text/csv")
    assert csv.text.splitlines() == ["agent_id,name,events,messages,conversations,errors,deploys,active_days,"
                                     "last_event_at"]
