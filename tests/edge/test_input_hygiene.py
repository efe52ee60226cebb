"""Bad input is a 4xx in the error format, never a 500: NUL bytes, deep nesting, huge numbers.

Postgres refuses NUL in text; before these checks such a request reached it and
answered 500 with a traceback in the log.
"""

from __future__ import annotations

import logging
import uuid

import pytest

NUL = "\u0000"


@pytest.fixture
def quiet_log(caplog):
    """Fails the test if the edge logged an error: bad input is not a server problem."""
    caplog.set_level(logging.ERROR)
    yield
    errors = [r for r in caplog.records if r.levelno >= logging.ERROR]
    assert not errors, [r.getMessage() for r in errors]


def _refused(response, field: str | None = None):
    assert response.status_code in (400, 422), response.text
    error = response.json()["error"]
    assert set(error) == {"code", "message", "details"}
    if field:
        assert field in error["message"] + str(error["details"]), error
    return error


def _agent(owner) -> str:
    response = owner.post("/v1/agents", json={"name": "Bot", "model": "gpt-4o"})
    assert response.status_code == 201, response.text
    return response.json()["id"]


def test_nul_in_login_email_is_refused_before_the_database(client, quiet_log):
    # 400, not 401: the email was refused before the login looked it up.
    error = _refused(client.post("/v1/auth/login", json={"email": f"a{NUL}b@x.com", "password": "whatever"}),
                     "email")
    assert error["message"] == "must not contain the character U+0000 (NUL) (email)"


def test_nul_in_signup_fields_is_refused(client, quiet_log):
    good = {"email": f"s-{uuid.uuid4().hex[:8]}@example.com", "password": "a long password", "name": "Ada",
            "organization_name": "Acme"}
    for field in good:
        body = {**good, field: good[field][:2] + NUL + good[field][2:]}
        _refused(client.post("/v1/auth/signup", json=body), field)


def test_nul_in_refresh_token_is_refused(client, quiet_log):
    _refused(client.post("/v1/auth/refresh", json={"refresh_token": f"x{NUL}y"}), "refresh_token")


def test_nul_in_agent_fields_is_refused(owner, quiet_log):
    _refused(owner.post("/v1/agents", json={"name": f"Bot{NUL}", "model": "gpt-4o"}), "name")
    agent_id = _agent(owner)
    _refused(owner.patch(f"/v1/agents/{agent_id}", json={"description": f"x{NUL}"}), "description")
    _refused(owner.post(f"/v1/agents/{agent_id}/errors", json={"message": "boom", "code": f"e{NUL}"}), "code")
    _refused(owner.post(f"/v1/agents/{agent_id}/errors", json={"message": f"bo{NUL}om"}), "message")


def test_nul_in_message_content_is_refused(owner, quiet_log):
    agent_id = _agent(owner)
    conversation = owner.post(f"/v1/agents/{agent_id}/conversations", json={"title": "t"}).json()["id"]
    _refused(owner.post(f"/v1/agents/{agent_id}/conversations/{conversation}/messages",
                        json={"content": f"hello{NUL}"}), "content")
    _refused(owner.post(f"/v1/agents/{agent_id}/conversations", json={"title": f"t{NUL}"}), "title")


def test_nul_in_invitation_email_and_accept_is_refused(owner, client, quiet_log):
    _refused(owner.post("/v1/team/invitations", json={"email": f"g{NUL}@example.com", "role": "member"}), "email")
    _refused(client.post("/v1/invitations/accept", json={"token": f"t{NUL}"}), "token")


def test_nul_in_notification_preferences_is_refused(owner, quiet_log):
    response = owner.client.put("/v1/notifications/preferences", headers=owner.headers,
                                json={"preferences": {f"agent.deployed{NUL}": {"email": False}}})
    _refused(response)


def test_nul_in_query_parameters_and_headers_is_refused(owner, quiet_log):
    _refused(owner.get("/v1/agents", params={"cursor": f"a{NUL}"}), "cursor")
    _refused(owner.get("/v1/team/activity", params={"action": f"member.{NUL}"}), "action")
    agent_id = _agent(owner)
    _refused(owner.post(f"/v1/agents/{agent_id}/deploy", headers={"Idempotency-Key": f"k{NUL}"}),
             "idempotency_key")


def test_a_lone_surrogate_is_refused(client, quiet_log):
    response = client.post("/v1/auth/login", content=b'{"email": "a\\ud800b@x.com", "password": "p"}',
                           headers={"Content-Type": "application/json"})
    _refused(response)


@pytest.mark.parametrize("depth", [3000, 33])
def test_deeply_nested_body_is_refused_unauthenticated(client, quiet_log, depth):
    body = b'{"email": ' + b"[" * depth + b"]" * depth + b', "password": "p"}'
    response = client.post("/v1/auth/login", content=body, headers={"Content-Type": "application/json"})
    _refused(response)
    assert "nested" in response.json()["error"]["message"]


def test_deeply_nested_body_is_refused_on_authenticated_routes(owner, quiet_log):
    body = b'{"preferences": ' + b'{"a": ' * 3000 + b"1" + b"}" * 3000 + b"}"
    response = owner.client.put("/v1/notifications/preferences", content=body,
                                headers={**owner.headers, "Content-Type": "application/json"})
    _refused(response)


def test_brackets_inside_strings_do_not_count_as_nesting(owner, quiet_log):
    name = "[" * 150 + '\\"{' * 20
    response = owner.post("/v1/agents", json={"name": name[:200], "model": "m"})
    assert response.status_code == 201, response.text


def test_huge_integers_are_refused(owner, client, quiet_log):
    for seats in (10 ** 30, 2 ** 63, -(2 ** 63) - 1):
        _refused(owner.patch("/v1/billing/subscription", json={"seats": seats}), "seats")
    _refused(owner.client.patch("/v1/billing/subscription", content=b'{"seats": ' + b"9" * 5000 + b"}",
                                headers={**owner.headers, "Content-Type": "application/json"}))
    _refused(owner.client.patch("/v1/billing/subscription", content=b'{"seats": 1e400}',
                                headers={**owner.headers, "Content-Type": "application/json"}))
    _refused(owner.get("/v1/agents", params={"limit": str(10 ** 30)}), "limit")
    _refused(owner.get("/v1/agents", params={"limit": "9" * 5000}), "limit")
