"""An account's life as a new user walks it (README): sign up, verify from the outbox link, forget the password,
reset it from the outbox link, change it, change the address; a squatted address taken back by its owner."""

from __future__ import annotations

import re
import uuid

from tests.fixtures.app import PASSWORD, sign_up
from tests.fixtures.mail import outbox
from tests.fixtures.worker import wait_for

NEW_PASSWORD = "a brand new passphrase"


def _link(settings, recipient: str, path: str, subject_has: str, count: int = 1) -> str:
    """The token of the newest emailed link to `path` (waits for the `count`-th such email)."""
    def arrived():
        found = outbox(settings, recipient, subject_has, account_mail=True)
        return found if len(found) >= count else None

    messages = wait_for(arrived, 30, what=f"the {subject_has!r} email")
    body = messages[-1].get_body(("plain",)).get_content()
    assert f"{settings.http.app_url}{path}?token=" in body
    return re.search(re.escape(path) + r"\?token=([A-Za-z0-9_\-.]+)", body).group(1)


def _login(client, email, password=PASSWORD):
    return client.post("/v1/auth/login", json={"email": email, "password": password})


def test_a_new_account_verifies_its_address_from_the_emailed_link(client, settings, worker):
    account = sign_up(client, verified=False)
    assert account.get("/v1/me").json()["email_verified"] is False
    # Unverified: it may work in its organization, but not make us email anyone else.
    assert account.post("/v1/agents", json={"name": "Bot", "model": "m"}).status_code == 201
    refused = account.post("/v1/team/invitations", json={"email": f"x-{uuid.uuid4().hex[:8]}@example.com",
                                                         "role": "member"})
    assert refused.status_code == 403
    assert refused.json()["error"]["code"] == "email_not_verified"

    token = _link(settings, account.email, "/verify-email", "Verify")
    verified = client.post("/v1/auth/verify-email", json={"token": token})
    assert verified.status_code == 200, verified.text
    assert verified.json() == {"user_id": account.user_id, "email": account.email, "email_verified": True}
    assert account.get("/v1/me").json()["email_verified"] is True
    assert account.post("/v1/team/invitations", json={"email": f"x-{uuid.uuid4().hex[:8]}@example.com",
                                                      "role": "member"}).status_code == 202
    again = client.post("/v1/auth/verify-email", json={"token": token})
    assert again.status_code == 410 and again.json()["error"]["code"] == "link_invalid"
    # A link of one purpose is no key to another, nor an access token.
    assert client.post("/v1/auth/password-reset/confirm",
                       json={"token": token, "password": NEW_PASSWORD}).status_code == 410
    assert client.get("/v1/me", headers={"Authorization": f"Bearer {token}"}).status_code == 401


def test_resend_replaces_the_older_link(client, settings, worker):
    account = sign_up(client, verified=False)
    first = _link(settings, account.email, "/verify-email", "Verify")
    assert account.post("/v1/auth/verify-email/resend").status_code == 202
    second = _link(settings, account.email, "/verify-email", "Verify", count=2)
    assert first != second
    assert client.post("/v1/auth/verify-email", json={"token": first}).status_code == 410
    assert client.post("/v1/auth/verify-email", json={"token": second}).status_code == 200


def test_a_forgotten_password_is_reset_from_the_emailed_link_and_every_session_ends(client, settings, worker):
    account = sign_up(client)
    unknown = client.post("/v1/auth/password-reset", json={"email": f"nobody-{uuid.uuid4().hex[:8]}@example.com"})
    known = client.post("/v1/auth/password-reset", json={"email": account.email.upper()})
    assert known.status_code == unknown.status_code == 202
    assert known.json() == unknown.json() == {"status": "sent"}

    token = _link(settings, account.email, "/reset-password", "Reset")
    weak = client.post("/v1/auth/password-reset/confirm", json={"token": token, "password": "short"})
    assert weak.status_code == 422  # and the link is not spent
    assert client.post("/v1/auth/password-reset/confirm",
                       json={"token": token, "password": NEW_PASSWORD}).status_code == 204
    assert account.get("/v1/me").status_code == 401
    assert client.post("/v1/auth/refresh", json={"refresh_token": account.tokens["refresh_token"]}).status_code == 401
    assert _login(client, account.email).status_code == 401
    assert _login(client, account.email, NEW_PASSWORD).status_code == 200
    reused = client.post("/v1/auth/password-reset/confirm", json={"token": token, "password": "another one here"})
    assert reused.status_code == 410


def test_the_owner_of_a_squatted_address_takes_the_account_back(client, settings, worker):
    """Issue 14, finding 4: a sign-up with someone else's address left the real owner with `409 email_taken`
    for good. The squatter never sees the mailbox; the owner resets the password from it."""
    victim = f"victim-{uuid.uuid4().hex[:8]}@example.com"
    squatter = sign_up(client, email=victim, password="squatter's password", verified=False)
    taken = client.post("/v1/auth/signup", json={"email": victim, "password": PASSWORD, "name": "Real",
                                                  "organization_name": "Mine"})
    assert taken.status_code == 409 and "password" in taken.json()["error"]["message"]
    assert client.post("/v1/auth/password-reset", json={"email": victim}).status_code == 202
    token = _link(settings, victim, "/reset-password", "Reset")
    confirmed = client.post("/v1/auth/password-reset/confirm", json={"token": token, "password": PASSWORD})
    assert confirmed.status_code == 204
    assert squatter.get("/v1/me").status_code == 401
    assert _login(client, victim, "squatter's password").status_code == 401
    owner = _login(client, victim)
    assert owner.status_code == 200
    me = client.get("/v1/me", headers={"Authorization": f"Bearer {owner.json()['access_token']}"}).json()
    assert me["email_verified"] is True


def test_changing_the_password_needs_the_current_one_and_ends_the_other_sessions(client, settings):
    account = sign_up(client)
    other = _login(client, account.email).json()
    wrong = account.post("/v1/me/password", json={"current_password": "not it at all", "new_password": NEW_PASSWORD})
    assert wrong.status_code == 403 and wrong.json()["error"]["code"] == "wrong_password"
    assert account.post("/v1/me/password", json={"current_password": PASSWORD,
                                                 "new_password": NEW_PASSWORD}).status_code == 204
    assert account.get("/v1/me").status_code == 200  # this session stays
    assert client.get("/v1/me", headers={"Authorization": f"Bearer {other['access_token']}"}).status_code == 401
    assert _login(client, account.email).status_code == 401
    assert _login(client, account.email, NEW_PASSWORD).status_code == 200


def test_a_new_address_takes_effect_only_once_its_link_is_followed(client, settings, worker):
    account = sign_up(client)
    new = f"moved-{uuid.uuid4().hex[:8]}@Example.com"
    assert account.post("/v1/me/email", json={"email": new, "password": PASSWORD}).status_code == 202
    assert account.get("/v1/me").json()["email"] == account.email
    token = _link(settings, new.lower(), "/verify-email", "new email")
    assert client.post("/v1/auth/verify-email", json={"token": token}).status_code == 200
    assert account.get("/v1/me").json()["email"] == new.lower()
    assert _login(client, new).status_code == 200
    assert _login(client, account.email).status_code == 401
    [notice] = wait_for(lambda: outbox(settings, account.email, "address was changed", account_mail=True), 30,
                        what="the notice to the old address")
    assert new.lower() in notice.get_body(("plain",)).get_content()


def test_a_person_removed_from_their_only_organization_signs_in_and_starts_again(client, settings, worker):
    """Issue 14, finding 4: removed from their only organization, a person could neither log in, sign up, nor
    accept a new invitation (`409 login_required`): locked out for good."""
    from tests.fixtures.app import add_member

    owner = sign_up(client)
    member = add_member(client, settings, owner.org_id, "member")
    assert owner.delete(f"/v1/team/members/{member.user_id}").status_code == 204
    login = _login(client, member.email)
    assert login.status_code == 200, login.text
    orgless = login.json()
    assert orgless["organization_id"] is None
    headers = {"Authorization": f"Bearer {orgless['access_token']}"}
    refused = client.get("/v1/me", headers=headers)
    assert refused.status_code == 403 and refused.json()["error"]["code"] == "no_organization"
    assert client.post("/v1/auth/refresh", json={"refresh_token": orgless["refresh_token"]}).status_code == 200

    # Invited back, they accept with the token of their organization-less login.
    response = owner.post("/v1/team/invitations", json={"email": member.email, "role": "viewer"})
    assert response.status_code == 202, response.text
    [invitation] = wait_for(lambda: outbox(settings, member.email, "invited you"), 30, what="the invitation")
    token = re.search(r"/invite\?token=([A-Za-z0-9_\-]+)", invitation.get_body(("plain",)).get_content()).group(1)
    joined = client.post("/v1/invitations/accept", json={"token": token}, headers=headers)
    assert joined.status_code == 201, joined.text
    assert joined.json()["organization_id"] == owner.org_id

    # Or they create an organization of their own.
    created = client.post("/v1/organizations", json={"name": "Fresh start"}, headers=headers)
    assert created.status_code == 201, created.text
    mine = client.get("/v1/me", headers={"Authorization": f"Bearer {created.json()['access_token']}"}).json()
    assert (mine["role"], mine["organization"]["name"]) == ("owner", "Fresh start")
    assert client.post("/v1/auth/logout", headers=headers).status_code == 204
    assert client.post("/v1/organizations", json={"name": "Again"}, headers=headers).status_code == 401


def _headers(tokens: dict) -> dict:
    return {"Authorization": f"Bearer {tokens['access_token']}"}


def _actions(account) -> list[str]:
    return [entry["action"] for entry in account.get("/v1/team/activity").json()["items"]]


def test_a_sign_in_from_a_new_device_emails_a_link_that_ends_every_session(client, settings, worker):
    account = sign_up(client)
    same = _login(client, account.email)  # the device that signed up: nothing to tell
    assert same.status_code == 200
    phone = client.post("/v1/auth/login", json={"email": account.email, "password": PASSWORD},
                        headers={"User-Agent": "Mozilla/5.0 (iPhone; CPU iPhone OS 17_0) Safari/604.1"})
    assert phone.status_code == 200
    token = _link(settings, account.email, "/not-me", "New sign-in")
    assert len(outbox(settings, account.email, "New sign-in", account_mail=True)) == 1
    [alert] = [n for n in account.get("/v1/notifications").json()["items"] if n["type"] == "security.new_sign_in"]
    assert "Safari on iOS" in alert["body"]
    assert "security.new_sign_in" in _actions(account)

    assert client.post("/v1/auth/not-me", json={"token": token}).status_code == 204
    for tokens in (account.tokens, same.json(), phone.json()):
        assert client.get("/v1/me", headers=_headers(tokens)).status_code == 401
    assert client.post("/v1/auth/refresh", json={"refresh_token": phone.json()["refresh_token"]}).status_code == 401
    assert client.post("/v1/auth/not-me", json={"token": token}).status_code == 410


def test_a_burst_of_failed_sign_ins_tells_the_person_once(client, settings, worker):
    account = sign_up(client)
    for i in range(settings.auth.login_attempts + 3):
        assert _login(client, account.email, f"wrong password {i}").status_code in (401, 429)
    [message] = wait_for(lambda: outbox(settings, account.email, "Failed sign-ins", account_mail=True), 30,
                         what="the failed sign-ins email")
    assert f"{settings.auth.login_attempts} sign-ins" in message.get_body(("plain",)).get_content()
    assert "security.failed_sign_ins" in _actions(account)


def test_a_reused_refresh_token_tells_the_person_and_the_owners(client, settings, worker):
    from tests.fixtures.app import add_member

    owner = sign_up(client)
    member = add_member(client, settings, owner.org_id, "member")
    first = member.tokens["refresh_token"]
    assert client.post("/v1/auth/refresh", json={"refresh_token": first}).status_code == 200
    reused = client.post("/v1/auth/refresh", json={"refresh_token": first})
    assert reused.json()["error"]["code"] == "refresh_token_reused"
    for person in (member.email, owner.email):
        wait_for(lambda: outbox(settings, person, "A refresh token was reused", account_mail=True), 30,
                 what=f"the reuse alert to {person}")
    assert "security.refresh_token_reused" in _actions(owner)


def test_no_preference_turns_the_email_of_a_security_alert_off(client):
    account = sign_up(client)
    def put(changes):
        return client.put("/v1/notifications/preferences", json={"preferences": changes}, headers=account.headers)

    refused = put({"security.new_sign_in": {"email": False}})
    assert refused.status_code == 422, refused.text
    assert put({"security.new_sign_in": {"in_app": False}}).status_code == 200
    preferences = account.get("/v1/notifications/preferences").json()["preferences"]
    assert preferences["security.new_sign_in"] == {"in_app": False, "email": True}
