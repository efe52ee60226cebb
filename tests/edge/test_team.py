"""Team rules that answer synchronously at the edge: invitations, roles, removal, ownership, activity."""

from __future__ import annotations

import uuid

import pytest
import redis

from domain.ratelimit import window_key
from tests.fixtures.app import PASSWORD, add_member


def _email() -> str:
    return f"invitee-{uuid.uuid4().hex[:12]}@example.com"


def _invite(account, email=None, role="member", **kw):
    return account.post("/v1/team/invitations", json={"email": email or _email(), "role": role}, **kw)


def _activity(account, **params):
    response = account.get("/v1/team/activity", params=params)
    assert response.status_code == 200, response.text
    return response.json()["items"]


def test_an_invitation_is_a_command_listed_without_its_token_and_logged(owner):
    email = _email()
    response = _invite(owner, email.upper(), "admin")
    assert response.status_code == 202, response.text
    assert response.headers["location"] == f"/v1/commands/{response.json()['command_id']}"
    [listed] = owner.get("/v1/team/invitations").json()["items"]
    assert (listed["email"], listed["role"], listed["status"]) == (email, "admin", "pending")
    assert listed["invited_by"] == owner.user_id
    assert not {"token", "token_hash"} & set(listed)
    [sent] = _activity(owner)
    assert (sent["action"], sent["actor_user_id"], sent["subject_email"]) == ("invitation.sent", owner.user_id, email)
    assert sent["details"]["role"] == "admin" and sent["ip"] == "testclient"


@pytest.mark.parametrize("body, status, code", [
    ({"email": "not-an-email", "role": "member"}, 422, "invalid_input"),
    ({"email": "a@example.com", "role": "superuser"}, 400, "validation_failed"),
    ({"email": "a@example.com"}, 400, "validation_failed"),
])
def test_bad_invitations_are_refused(owner, body, status, code):
    response = owner.post("/v1/team/invitations", json=body)
    assert response.status_code == status
    assert response.json()["error"]["code"] == code


def test_inviting_an_existing_member_is_a_conflict(owner, client, settings):
    member = add_member(client, settings, owner.org_id, "member")
    response = _invite(owner, member.email)
    assert response.status_code == 409
    assert response.json()["error"]["code"] == "already_member"
    assert _invite(owner, owner.email).status_code == 409


def test_an_admin_may_invite_but_not_an_owner(owner, client, settings):
    admin = add_member(client, settings, owner.org_id, "admin")
    refused = _invite(admin, role="owner")
    assert refused.status_code == 403
    assert refused.json()["error"]["code"] == "owners_only"
    assert _invite(admin, role="admin").status_code == 202
    assert _invite(owner, role="owner").status_code == 202


@pytest.mark.parametrize("role", ["viewer", "member"])
def test_viewers_and_members_cannot_change_the_team(owner, client, settings, role):
    someone = add_member(client, settings, owner.org_id, role)
    colleague = add_member(client, settings, owner.org_id, "viewer")
    assert _invite(owner).status_code == 202
    [invitation] = owner.get("/v1/team/invitations").json()["items"]
    attempts = [
        _invite(someone),
        someone.delete(f"/v1/team/invitations/{invitation['id']}"),
        someone.patch(f"/v1/team/members/{colleague.user_id}", json={"role": "member"}),
        someone.delete(f"/v1/team/members/{colleague.user_id}"),
        someone.post("/v1/team/ownership", json={"user_id": someone.user_id}),
        someone.get("/v1/team/activity"),
    ]
    assert [r.status_code for r in attempts] == [403] * len(attempts)
    # Reading the team is allowed to everyone in it.
    assert someone.get("/v1/team/members").status_code == 200
    assert len(someone.get("/v1/team/invitations").json()["items"]) == 1
    assert [m["role"] for m in owner.get("/v1/team/members").json()["items"]] == ["owner", role, "viewer"]


def test_reinviting_a_pending_email_replaces_the_old_invitation(owner):
    email = _email()
    assert _invite(owner, email, "viewer").status_code == 202
    [first] = owner.get("/v1/team/invitations").json()["items"]
    assert _invite(owner, email, "member").status_code == 202
    [second] = owner.get("/v1/team/invitations").json()["items"]
    assert second["id"] != first["id"] and second["role"] == "member"
    revoked = _activity(owner, action="invitation.revoked")
    assert [(a["details"]["invitation_id"], a["details"]["reason"]) for a in revoked] == [(first["id"], "reinvited")]


def test_revoking_an_invitation(owner, other_owner):
    assert _invite(owner).status_code == 202
    [invitation] = owner.get("/v1/team/invitations").json()["items"]
    assert other_owner.delete(f"/v1/team/invitations/{invitation['id']}").status_code == 404
    assert owner.delete(f"/v1/team/invitations/{invitation['id']}").status_code == 204
    assert owner.get("/v1/team/invitations").json()["items"] == []
    assert owner.delete(f"/v1/team/invitations/{invitation['id']}").status_code == 404
    assert owner.delete(f"/v1/team/invitations/{uuid.uuid4()}").status_code == 404
    assert _activity(owner, action="invitation.revoked")[0]["subject_email"] == invitation["email"]


def test_members_and_pending_invitations_share_the_free_plan_seats(owner, client, settings):
    assert settings.team.free_plan_seats == 5
    add_member(client, settings, owner.org_id, "viewer")
    emails = [_email() for _ in range(3)]
    for email in emails:
        assert _invite(owner, email).status_code == 202
    refused = _invite(owner)
    assert refused.status_code == 402
    assert refused.json()["error"]["code"] == "seat_limit_reached"
    assert refused.json()["error"]["details"] == {"limit": 5, "used": 5}
    # Re-inviting a pending email takes no extra seat; revoking one frees a seat.
    assert _invite(owner, emails[0], "admin").status_code == 202
    invitation = next(i for i in owner.get("/v1/team/invitations").json()["items"] if i["email"] == emails[1])
    assert owner.delete(f"/v1/team/invitations/{invitation['id']}").status_code == 204
    assert _invite(owner).status_code == 202


def test_the_hourly_invitation_limit_answers_429_with_retry_after(owner, settings):
    key, _ = window_key("invitations", owner.org_id, 3600, namespace=settings.broker.namespace)
    connection = redis.Redis.from_url(settings.redis.url)
    try:
        connection.set(key, settings.team.invitations_per_hour - 1, ex=3700)
        assert _invite(owner).status_code == 202  # the last one of this hour
        refused = _invite(owner)
    finally:
        connection.delete(key)
        connection.close()
    assert refused.status_code == 429
    assert refused.json()["error"]["code"] == "too_many_invitations"
    assert 1 <= int(refused.headers["retry-after"]) <= 3600
    assert len(owner.get("/v1/team/invitations").json()["items"]) == 1


def test_changing_roles_and_who_may_touch_owners(owner, client, settings):
    admin = add_member(client, settings, owner.org_id, "admin")
    viewer = add_member(client, settings, owner.org_id, "viewer")
    promoted = admin.patch(f"/v1/team/members/{viewer.user_id}", json={"role": "member"})
    assert promoted.status_code == 200 and promoted.json()["role"] == "member"
    assert viewer.get("/v1/me").json()["role"] == "member"  # the next request sees it
    for attempt in (admin.patch(f"/v1/team/members/{viewer.user_id}", json={"role": "owner"}),
                    admin.patch(f"/v1/team/members/{owner.user_id}", json={"role": "admin"}),
                    admin.delete(f"/v1/team/members/{owner.user_id}")):
        assert attempt.status_code == 403
        assert attempt.json()["error"]["code"] == "owners_only"
    assert admin.patch(f"/v1/team/members/{uuid.uuid4()}", json={"role": "member"}).status_code == 404
    changed = _activity(owner, action="member.role_changed")
    assert [(a["subject_user_id"], a["details"]) for a in changed] == [
        (viewer.user_id, {"from": "viewer", "to": "member"})]
    assert _activity(owner, actor=admin.user_id)[0]["action"] == "member.role_changed"


def test_the_last_owner_can_be_neither_demoted_nor_removed(owner, client, settings):
    for attempt in (owner.patch(f"/v1/team/members/{owner.user_id}", json={"role": "admin"}),
                    owner.delete(f"/v1/team/members/{owner.user_id}")):
        assert attempt.status_code == 409
        assert attempt.json()["error"]["code"] == "last_owner"
    second = add_member(client, settings, owner.org_id, "admin")
    assert owner.patch(f"/v1/team/members/{second.user_id}", json={"role": "owner"}).status_code == 200
    # With two owners, one may step down; then the other is the last.
    assert owner.patch(f"/v1/team/members/{owner.user_id}", json={"role": "admin"}).status_code == 200
    refused = second.delete(f"/v1/team/members/{second.user_id}")
    assert refused.status_code == 409


def test_ownership_is_transferred_explicitly(owner, client, settings):
    admin = add_member(client, settings, owner.org_id, "admin")
    assert owner.post("/v1/team/ownership", json={"user_id": owner.user_id}).status_code == 409
    assert owner.post("/v1/team/ownership", json={"user_id": str(uuid.uuid4())}).status_code == 404
    response = owner.post("/v1/team/ownership", json={"user_id": admin.user_id})
    assert response.status_code == 200, response.text
    assert {m["user_id"]: m["role"] for m in response.json()["items"]} == {admin.user_id: "owner",
                                                                           owner.user_id: "admin"}
    assert owner.get("/v1/me").json()["role"] == "admin"
    assert owner.post("/v1/team/ownership", json={"user_id": owner.user_id}).status_code == 403
    [entry] = _activity(admin, action="ownership.transferred")
    assert (entry["actor_user_id"], entry["subject_user_id"]) == (owner.user_id, admin.user_id)


def test_a_removed_member_loses_access_and_refresh_at_once(owner, client, settings):
    member = add_member(client, settings, owner.org_id, "member")
    assert member.get("/v1/me").status_code == 200
    assert owner.delete(f"/v1/team/members/{member.user_id}").status_code == 204
    denied = member.get("/v1/me")
    assert denied.status_code == 401 and denied.json()["error"]["code"] == "session_revoked"
    refreshed = client.post("/v1/auth/refresh", json={"refresh_token": member.tokens["refresh_token"]})
    assert refreshed.status_code == 401
    assert member.user_id not in [m["user_id"] for m in owner.get("/v1/team/members").json()["items"]]
    assert owner.delete(f"/v1/team/members/{member.user_id}").status_code == 404
    [removed] = _activity(owner, action="member.removed")
    assert (removed["subject_user_id"], removed["details"]) == (member.user_id, {"role": "member"})
    # Logging in again finds no organization to enter: a session of the person alone (they may create one or
    # accept an invitation; tests/workers/test_accounts.py), and not in this organization.
    again = client.post("/v1/auth/login", json={"email": member.email, "password": PASSWORD})
    assert again.status_code == 200 and again.json()["organization_id"] is None
    assert client.post("/v1/auth/login", json={"email": member.email, "password": PASSWORD,
                                               "organization_id": owner.org_id}).status_code == 401


def test_activity_pages_newest_first_and_refuses_unknown_actions(owner, other_owner):
    for _ in range(4):  # the owner and four invitations fill the five free seats
        assert _invite(owner).status_code == 202
    seen, cursor = [], None
    while True:
        page = owner.get("/v1/team/activity", params={"limit": 2, **({"cursor": cursor} if cursor else {})}).json()
        seen += page["items"]
        cursor = page["next_cursor"]
        if not cursor:
            break
    assert len(seen) == 4 and len({a["id"] for a in seen}) == 4
    assert [a["created_at"] for a in seen] == sorted((a["created_at"] for a in seen), reverse=True)
    assert _activity(other_owner) == []
    bad = owner.get("/v1/team/activity", params={"action": "member.exploded"})
    assert bad.status_code == 422


def test_an_unknown_token_is_the_one_invalid_invitation_error(client):
    response = client.post("/v1/invitations/accept", json={"token": "x" * 43, "name": "N", "password": PASSWORD})
    assert response.status_code == 410
    assert response.json()["error"]["code"] == "invitation_invalid"
    assert client.post("/v1/invitations/accept", json={"name": "N"}).status_code == 400


def test_an_unverified_account_cannot_send_invitations(client):
    """Issue 14, finding 5: free, unverified sign-ups sent invitations (attacker-chosen names) to any address."""
    from tests.fixtures.app import mark_verified, sign_up

    fresh = sign_up(client, verified=False)
    refused = _invite(fresh)
    assert refused.status_code == 403
    assert refused.json()["error"]["code"] == "email_not_verified"
    assert fresh.get("/v1/team/invitations").json()["items"] == []
    mark_verified(client.app.state.services.settings, fresh.user_id)
    assert _invite(fresh).status_code == 202
