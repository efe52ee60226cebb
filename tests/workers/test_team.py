"""Invitations end to end: edge → team worker → outbox email → accept → login, relay and welcome email."""

from __future__ import annotations

import asyncio
import hashlib
import json
import re
import uuid
from concurrent.futures import ThreadPoolExecutor
from datetime import UTC, datetime, timedelta

import pytest
from sqlalchemy import create_engine, text

from domain.db import sqlalchemy_url
from tests.fixtures.app import PASSWORD, sign_up
from tests.fixtures.mail import outbox
from tests.fixtures.worker import wait_for

TOKEN = re.compile(r"/invite\?token=([A-Za-z0-9_\-]+)")


@pytest.fixture(scope="module")
def relay(start_relay):
    return start_relay()


@pytest.fixture(scope="module")
def owner_sql(settings):
    engine = create_engine(sqlalchemy_url(settings.database.url))
    yield engine
    engine.dispose()


def _invite_and_get_token(settings, account, invitee: str, role: str = "member") -> tuple[str, str]:
    """Invite, wait for the worker's email, and read the token from its link; (token, command id)."""
    response = account.post("/v1/team/invitations", json={"email": invitee, "role": role})
    assert response.status_code == 202, response.text
    [message] = wait_for(lambda: outbox(settings, invitee), 30, what="the invitation email")
    body = message.get_body(("plain",)).get_content()
    assert f"{settings.http.app_url}/invite?token=" in body
    return TOKEN.search(body).group(1), response.json()["command_id"]


def _accept(client, token, name="New Person", password=PASSWORD, headers=None):
    return client.post("/v1/invitations/accept", json={"token": token, "name": name, "password": password},
                       headers=headers or {})


def _invitee() -> str:
    return f"invitee-{uuid.uuid4().hex[:12]}@example.com"


def test_the_email_link_joins_the_organization_and_the_owner_hears_of_it(owner, client, worker, relay, settings,
                                                                         owner_sql):
    invitee = _invitee()
    with relay.connect(owner) as browser:
        token, command_id = _invite_and_get_token(settings, owner, invitee, "admin")
        assert len(token) >= 43  # 32 random bytes
        command = wait_for(lambda: (c := owner.get(f"/v1/commands/{command_id}").json())["status"] == "succeeded"
                           and c, 30, what="the command")
        assert command["kind"] == "team.invite" and command["result"]["emailed"] is True
        # Only the hash is stored; the command carries the invitation's id, not the token.
        with owner_sql.connect() as connection:
            stored = connection.execute(text("select token_hash from invitations where email = :e"),
                                        {"e": invitee}).scalar_one()
            payload = connection.execute(text("select payload::text from commands where id = :i"),
                                         {"i": command_id}).scalar_one()
        assert stored == hashlib.sha256(token.encode()).hexdigest()
        assert token not in payload

        joined = _accept(client, token, name="Ada")
        assert joined.status_code == 201, joined.text
        assert joined.json()["organization_id"] == owner.org_id
        event = wait_for(lambda: _next_event(browser, "team.joined"), 30, what="team.joined on the relay")
    assert event["data"]["title"] == "Ada joined Acme"

    me = client.get("/v1/me", headers={"Authorization": f"Bearer {joined.json()['access_token']}"}).json()
    assert (me["email"], me["name"], me["role"]) == (invitee, "Ada", "admin")
    login = client.post("/v1/auth/login", json={"email": invitee, "password": PASSWORD})
    assert login.status_code == 200 and login.json()["organization_id"] == owner.org_id
    assert owner.get("/v1/team/invitations").json()["items"] == []
    members = {m["email"]: m["role"] for m in owner.get("/v1/team/members").json()["items"]}
    assert members[invitee] == "admin"
    accepted = owner.get("/v1/team/activity", params={"action": "invitation.accepted"}).json()["items"]
    assert [(a["actor_user_id"], a["subject_email"]) for a in accepted] == [(joined.json()["user_id"], invitee)]
    welcome = wait_for(lambda: outbox(settings, invitee, "Welcome"), 30, what="the welcome email")
    assert len(welcome) == 1


def _next_event(browser, notification_type: str) -> dict | None:
    while True:
        event = json.loads(browser.recv(timeout=30))
        if event["type"] == "notification.created" and event["data"]["type"] == notification_type:
            return event


def test_used_revoked_expired_and_unknown_tokens_get_one_answer(owner, client, worker, settings, owner_sql):
    used, _ = _invite_and_get_token(settings, owner, _invitee())
    assert _accept(client, used).status_code == 201
    revoked_email = _invitee()
    revoked, _ = _invite_and_get_token(settings, owner, revoked_email)
    [pending] = owner.get("/v1/team/invitations").json()["items"]
    assert owner.delete(f"/v1/team/invitations/{pending['id']}").status_code == 204
    expired_email = _invitee()
    expired, _ = _invite_and_get_token(settings, owner, expired_email)
    with owner_sql.begin() as connection:
        connection.execute(text("update invitations set expires_at = now() - interval '1 minute' where email = :e"),
                           {"e": expired_email})
    answers = [_accept(client, token) for token in (used, revoked, expired, "unknown-" + used[8:])]
    assert {(a.status_code, a.json()["error"]["code"], a.json()["error"]["message"]) for a in answers} == {
        (410, "invitation_invalid", answers[0].json()["error"]["message"])}
    # Nobody was created for the refused ones.
    assert client.post("/v1/auth/login", json={"email": revoked_email, "password": PASSWORD}).status_code == 401


def test_concurrent_accepts_of_one_token_have_exactly_one_winner(owner, client, worker, settings):
    token, _ = _invite_and_get_token(settings, owner, _invitee())
    with ThreadPoolExecutor(4) as pool:
        answers = list(pool.map(lambda i: _accept(client, token, name=f"Racer {i}"), range(4)))
    codes = sorted(a.status_code for a in answers)
    assert codes == [201, 410, 410, 410], [a.text for a in answers]
    assert sum(m["name"].startswith("Racer") for m in owner.get("/v1/team/members").json()["items"]) == 1


def test_an_existing_account_accepts_while_logged_in(owner, client, worker, settings):
    elsewhere = sign_up(client)  # has an account (and an organization of its own)
    token, _ = _invite_and_get_token(settings, owner, elsewhere.email, "viewer")
    anonymous = _accept(client, token)
    assert anonymous.status_code == 409
    assert anonymous.json()["error"]["code"] == "login_required"
    someone_else = sign_up(client)
    assert _accept(client, token, headers=someone_else.headers).status_code == 409
    joined = _accept(client, token, name="Ignored", password="ignored-password", headers=elsewhere.headers)
    assert joined.status_code == 201, joined.text
    assert (joined.json()["user_id"], joined.json()["organization_id"]) == (elsewhere.user_id, owner.org_id)
    me = client.get("/v1/me", headers={"Authorization": f"Bearer {joined.json()['access_token']}"}).json()
    assert (me["name"], me["role"], me["organization"]["id"]) == ("Owner", "viewer", owner.org_id)
    # Still their password, and both organizations are theirs.
    for org in (elsewhere.org_id, owner.org_id):
        login = client.post("/v1/auth/login", json={"email": elsewhere.email, "password": PASSWORD,
                                                    "organization_id": org})
        assert login.status_code == 200
    assert _accept(client, token, headers=elsewhere.headers).status_code == 410


def test_a_revoked_invitation_gets_no_token_and_no_email(owner, settings):
    """The worker's side on its own: an invitation revoked before the worker ran is left alone."""
    from domain.commands.models import Command
    from domain.db import Database
    from domain.team import invitations
    from domain.team.models import Invitation

    async def run():
        db = Database(settings.database.app_url, pool_size=1)
        org = uuid.UUID(owner.org_id)
        invitation = Invitation(id=uuid.uuid4(), org_id=org, email=_invitee(), role="member", status="revoked",
                                expires_at=datetime.now(UTC) + timedelta(hours=1))
        try:
            async with db.transaction(org_id=org) as session:
                session.add(invitation)
            async with db.transaction(org_id=org) as session:
                command = Command(payload={"invitation_id": str(invitation.id)})
                result = await invitations.issue(session, command)
                stored = await session.get(Invitation, invitation.id)
                return result, stored.token_hash, session.info.get("after_commit", [])
        finally:
            await db.dispose()

    result, token_hash, queued = asyncio.run(run())
    assert result["emailed"] is False and token_hash is None and queued == []


def test_a_role_change_notifies_the_member(owner, client, worker, settings):
    from tests.fixtures.app import add_member

    member = add_member(client, settings, owner.org_id, "viewer")
    assert owner.patch(f"/v1/team/members/{member.user_id}", json={"role": "member"}).status_code == 200
    wait_for(lambda: member.get("/v1/notifications/unread-count").json()["unread"] == 1, 30,
             what="the role change notification")
    [notification] = member.get("/v1/notifications").json()["items"]
    assert (notification["type"], notification["title"]) == ("team.role_changed", "Your role is now member")
