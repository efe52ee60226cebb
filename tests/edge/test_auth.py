"""Sign-up, login, token rotation, logout and every way a token is refused."""

from __future__ import annotations

import time
import uuid

import jwt
import pytest

from tests.fixtures.app import PASSWORD, forge_token, sign_up


def test_signup_creates_an_owner_who_can_read_me(client):
    account = sign_up(client, email=f"Mixed-{uuid.uuid4().hex[:6]}@Example.com")
    me = account.get("/v1/me")
    assert me.status_code == 200
    body = me.json()
    assert body["email"] == account.email.lower()
    assert body["role"] == "owner"
    assert body["organization"]["id"] == account.org_id


def test_signup_with_a_taken_email_is_409(client, owner):
    response = client.post("/v1/auth/signup", json={"email": owner.email.upper(), "password": PASSWORD,
                                                     "name": "X", "organization_name": "Y"})
    assert response.status_code == 409
    assert response.json()["error"]["code"] == "email_taken"


@pytest.mark.parametrize("field, value, code", [
    ("email", "not-an-email", "invalid_input"),
    ("password", "short", "weak_password"),
])
def test_signup_rejects_bad_fields(client, field, value, code):
    body = {"email": f"u-{uuid.uuid4().hex[:8]}@example.com", "password": PASSWORD, "name": "N",
            "organization_name": "O", field: value}
    response = client.post("/v1/auth/signup", json=body)
    assert response.status_code == 422
    assert response.json()["error"]["code"] == code


def test_login_returns_tokens_and_wrong_passwords_get_one_answer(client, owner):
    ok = client.post("/v1/auth/login", json={"email": owner.email, "password": PASSWORD})
    assert ok.status_code == 200
    assert ok.json()["organization_id"] == owner.org_id
    wrong = client.post("/v1/auth/login", json={"email": owner.email, "password": PASSWORD + "x"})
    unknown = client.post("/v1/auth/login", json={"email": "nobody-" + owner.email, "password": PASSWORD})
    assert wrong.status_code == unknown.status_code == 401
    assert wrong.json() == unknown.json()


@pytest.mark.parametrize("password", ["a" * 73, "é" * 64, "x" * 500])
def test_long_passwords_work_and_are_not_truncated(client, password):
    account = sign_up(client, password=password)
    assert client.post("/v1/auth/login", json={"email": account.email, "password": password}).status_code == 200
    # Same first 72 bytes, different after: must not verify.
    twin = password.encode()[:72].decode(errors="ignore") + "different tail"
    assert client.post("/v1/auth/login", json={"email": account.email, "password": twin}).status_code == 401


def test_refresh_rotates_and_reuse_revokes_the_whole_family(client, owner):
    first = owner.tokens["refresh_token"]
    rotated = client.post("/v1/auth/refresh", json={"refresh_token": first})
    assert rotated.status_code == 200
    second = rotated.json()
    assert second["refresh_token"] != first
    assert client.get("/v1/me", headers={"Authorization": f"Bearer {second['access_token']}"}).status_code == 200

    reused = client.post("/v1/auth/refresh", json={"refresh_token": first})
    assert reused.status_code == 401
    assert reused.json()["error"]["code"] == "refresh_token_reused"
    # The thief's copy and the owner's newer token both die with the family,
    # and so do the access tokens of that login.
    assert client.post("/v1/auth/refresh", json={"refresh_token": second["refresh_token"]}).status_code == 401
    me = client.get("/v1/me", headers={"Authorization": f"Bearer {second['access_token']}"})
    assert me.status_code == 401
    # Another login of the same person is untouched.
    fresh = client.post("/v1/auth/login", json={"email": owner.email, "password": PASSWORD})
    assert client.get("/v1/me", headers={"Authorization": f"Bearer {fresh.json()['access_token']}"}).status_code == 200


def test_logout_ends_refresh_and_access(client, owner):
    assert owner.post("/v1/auth/logout").status_code == 204
    assert owner.get("/v1/me").status_code == 401
    assert client.post("/v1/auth/refresh", json={"refresh_token": owner.tokens["refresh_token"]}).status_code == 401


def _me(client, token):
    return client.get("/v1/me", headers={"Authorization": f"Bearer {token}"})


def test_alg_none_is_refused(client, owner):
    header, payload, _ = owner.tokens["access_token"].split(".")
    none_header = jwt.utils.base64url_encode(b'{"alg":"none","typ":"JWT"}').decode()
    assert _me(client, f"{none_header}.{payload}.").status_code == 401


def test_wrong_audience_expired_and_refresh_as_access_are_refused(client, settings, owner):
    claims = jwt.decode(owner.tokens["access_token"], options={"verify_signature": False})
    wrong_aud = forge_token(settings, **{**claims, "aud": "someone-else"})
    expired = forge_token(settings, **{**claims, "iat": claims["iat"] - 7200, "exp": int(time.time()) - 5})
    assert _me(client, wrong_aud).status_code == 401
    response = _me(client, expired)
    assert response.status_code == 401
    assert response.json()["error"]["code"] == "token_expired"
    refresh_as_access = _me(client, owner.tokens["refresh_token"])
    assert refresh_as_access.status_code == 401
    assert _me(client, forge_token(settings, **{**claims, "typ": "refresh"})).status_code == 401
    # A token signed with another secret.
    foreign = jwt.encode({**claims, "exp": int(time.time()) + 60}, "x" * 40, algorithm="HS256")
    assert _me(client, foreign).status_code == 401


@pytest.mark.parametrize("header", [None, "Bearer", "Basic abc", "Bearer not.a.jwt"])
def test_missing_or_malformed_authorization_is_401_in_the_error_format(client, header):
    headers = {"Authorization": header} if header else {}
    response = client.get("/v1/me", headers=headers)
    assert response.status_code == 401
    assert set(response.json()["error"]) == {"code", "message", "details"}


def _sql(settings, statement: str, **params) -> None:
    from sqlalchemy import create_engine, text

    from domain.db import sqlalchemy_url

    engine = create_engine(sqlalchemy_url(settings.database.url))
    with engine.begin() as connection:
        connection.execute(text(statement), params)
    engine.dispose()


def test_a_removed_members_token_stays_dead_when_they_are_let_back_in(client, settings, owner):
    """Issue 14, finding 2: removing a member deletes their session rows; the guard only looked for a revoked
    row, so once the person was back in the organization their old access token worked again."""
    from tests.fixtures.app import add_member

    member = add_member(client, settings, owner.org_id, "member")
    assert member.get("/v1/me").status_code == 200
    assert owner.delete(f"/v1/team/members/{member.user_id}").status_code == 204
    assert member.get("/v1/me").status_code == 401
    # Let back in, as accepting a new invitation does (the membership row again, no session row of the old login).
    _sql(settings, "insert into memberships (org_id, user_id, role) values (:o, :u, 'member')",
         o=owner.org_id, u=member.user_id)
    response = member.get("/v1/me")
    assert response.status_code == 401
    assert response.json()["error"]["code"] == "session_revoked"
    assert member.post("/v1/auth/logout").status_code == 401
    fresh = client.post("/v1/auth/login", json={"email": member.email, "password": PASSWORD})
    assert _me(client, fresh.json()["access_token"]).status_code == 200


def test_logout_kills_the_access_token_even_when_its_rows_are_gone(client, settings, owner):
    """A token whose session rows no longer exist is dead, not 'not revoked'."""
    _sql(settings, "delete from refresh_tokens where user_id = :u", u=owner.user_id)
    assert owner.get("/v1/me").status_code == 401
    again = sign_up(client)
    assert again.post("/v1/auth/logout").status_code == 204
    assert again.get("/v1/me").status_code == 401


def test_one_mailbox_is_one_account_however_it_is_spelled(client):
    """Issue 14, finding 7: NFC and NFD spellings, a trailing dot and the domain's case were separate accounts."""
    tag = uuid.uuid4().hex[:8]
    nfc = f"ren\u00e9-{tag}@Example.COM"
    account = sign_up(client, email=nfc)
    for twin in (f"rene\u0301-{tag}@example.com", f"ren\u00e9-{tag}@example.com.", f"REN\u00c9-{tag}@EXAMPLE.com"):
        taken = client.post("/v1/auth/signup", json={"email": twin, "password": PASSWORD, "name": "X",
                                                      "organization_name": "Y"})
        assert taken.status_code == 409, twin
        login = client.post("/v1/auth/login", json={"email": twin, "password": PASSWORD})
        assert login.status_code == 200, twin
        assert login.json()["user_id"] == account.user_id
    assert account.get("/v1/me").json()["email"] == f"ren\u00e9-{tag}@example.com"
    idn = sign_up(client, email=f"a-{tag}@b\u00fccher.example")
    assert idn.get("/v1/me").json()["email"] == f"a-{tag}@xn--bcher-kva.example"


@pytest.mark.parametrize("address", ['"a>b"<x@example.com', "Name <x@example.com>", "x@example.com (comment)",
                                     "a b@example.com", "x@example..com", "x@localhost", "x@@example.com"])
def test_display_names_and_broken_addresses_are_refused(client, address):
    response = client.post("/v1/auth/signup", json={"email": address, "password": PASSWORD, "name": "X",
                                                     "organization_name": "Y"})
    assert response.status_code == 422, address
    assert response.json()["error"]["code"] == "invalid_input"
    assert response.json()["error"]["details"] == {"field": "email"}


def test_a_password_is_one_password_however_its_accents_are_composed(client):
    composed, decomposed = "caf\u00e9 cr\u00e8me br\u00fbl\u00e9e", "cafe\u0301 cre\u0300me bru\u0302le\u0301e"
    account = sign_up(client, password=decomposed)
    for typed in (composed, decomposed):
        assert client.post("/v1/auth/login", json={"email": account.email, "password": typed}).status_code == 200


def _clear_login_lock(settings, email: str) -> None:
    import redis

    from domain.ratelimit import window_key

    connection = redis.Redis.from_url(settings.redis.url)
    try:
        for name, window in (("login_failures", settings.auth.login_lock_seconds), ("login_failures_daily", 86_400)):
            connection.delete(window_key(name, email, window, namespace=settings.broker.namespace)[0])
    finally:
        connection.close()


def test_thirty_wrong_passwords_lock_the_account_until_the_lock_passes(client, settings, owner):
    """Issue 14, finding 1 (per account): 30 wrong passwords then the right one used to succeed."""
    answers = [client.post("/v1/auth/login", json={"email": owner.email, "password": f"wrong-{i}-password"})
               for i in range(30)]
    assert [a.status_code for a in answers[:settings.auth.login_attempts]] == [401] * settings.auth.login_attempts
    assert answers[-1].status_code == 429
    right = client.post("/v1/auth/login", json={"email": owner.email.upper(), "password": PASSWORD})
    assert right.status_code == 429
    error = right.json()["error"]
    assert error["code"] == "too_many_attempts" and set(error) == {"code", "message", "details"}
    assert 1 <= int(right.headers["retry-after"]) <= settings.auth.login_lock_seconds
    # Sessions already open are not touched; the lock is on signing in.
    assert owner.get("/v1/me").status_code == 200
    # An address with no account answers exactly the same way.
    nobody = f"nobody-{uuid.uuid4().hex[:8]}@example.com"
    ghost = [client.post("/v1/auth/login", json={"email": nobody, "password": "wrong-password"}) for _ in range(30)]
    assert ghost[-1].status_code == 429
    assert {k: ghost[-1].json()["error"][k] for k in ("code", "message")} == {k: error[k] for k in ("code", "message")}
    _clear_login_lock(settings, owner.email)  # the window passes
    assert client.post("/v1/auth/login", json={"email": owner.email, "password": PASSWORD}).status_code == 200


def test_a_password_hashed_before_normalization_still_works_and_is_rehashed(client, settings):
    """Hashes made before migration 0014 are of the raw password: the first sign-in with it re-hashes the
    NFKC form, after which any composition of the password works."""
    from domain.accounts.passwords import hash_password

    decomposed = "cafe\u0301 cre\u0300me bru\u0302le\u0301e"
    email, user_id = f"legacy-{uuid.uuid4().hex[:8]}@example.com", uuid.uuid4()
    _sql(settings, "insert into users (id, email, name, password_hash, email_verified_at) "
         "values (:i, :e, 'L', :h, now())", i=user_id, e=email, h=hash_password(decomposed, 4))
    _sql(settings, "insert into organizations (id, name) values (:i, 'Legacy')", i=user_id)
    _sql(settings, "insert into memberships (org_id, user_id, role) values (:i, :i, 'owner')", i=user_id)
    assert client.post("/v1/auth/login", json={"email": email, "password": decomposed}).status_code == 200
    composed = "caf\u00e9 cr\u00e8me br\u00fbl\u00e9e"
    assert client.post("/v1/auth/login", json={"email": email, "password": composed}).status_code == 200


def test_a_password_reset_answers_alike_and_about_as_fast_for_known_and_unknown_addresses(client):
    import statistics

    known = [sign_up(client).email for _ in range(8)]
    unknown = [f"nobody-{uuid.uuid4().hex[:8]}@example.com" for _ in range(8)]
    timings: dict[str, list[float]] = {"known": [], "unknown": []}
    answers = set()
    for mine, nobody in zip(known, unknown):
        for kind, email in (("known", mine), ("unknown", nobody)):
            started = time.perf_counter()
            response = client.post("/v1/auth/password-reset", json={"email": email})
            timings[kind].append(time.perf_counter() - started)
            answers.add((response.status_code, response.text))
    assert answers == {(202, '{"status":"sent"}')}
    # No bcrypt on either path and the email leaves after commit: a few milliseconds apart at most.
    assert abs(statistics.median(timings["known"]) - statistics.median(timings["unknown"])) < 0.05, timings
