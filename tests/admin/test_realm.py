"""The admin realm's authentication: two steps, TOTP once, throttling, sessions, realms kept apart."""

from __future__ import annotations

import dataclasses
import ipaddress

import pyotp

from tests.admin.helpers import (ADMIN_PASSWORD, create_admin, password_step, sign_in_with_recovery_code,
                                 signed_in_admin)
from tests.fixtures.app import client_of


def test_login_is_password_then_code_and_the_tokens_open_admin_routes(client, settings):
    admin = signed_in_admin(client, settings)
    assert admin.tokens["role"] == "superadmin" and admin.tokens["token_type"] == "bearer"
    assert admin.get("/admin/v1/customers").status_code == 200
    [current] = admin.get("/admin/v1/auth/sessions").json()["items"]
    assert current["current"] is True


def test_wrong_password_and_unknown_email_get_one_answer(client, settings):
    _, email, _, _ = create_admin(settings)
    wrong = password_step(client, email, "not the password")
    unknown = password_step(client, "nobody@objecta.example")
    assert (wrong.status_code, unknown.status_code) == (401, 401)
    assert wrong.json()["error"]["code"] == unknown.json()["error"]["code"] == "invalid_credentials"


def test_each_realms_tokens_are_refused_where_they_do_not_belong(client, settings, owner):
    admin = signed_in_admin(client, settings)
    mfa_token = password_step(client, admin.email).json()["mfa_token"]
    tenant = {"Authorization": f"Bearer {owner.tokens['access_token']}"}
    refused = {
        "tenant access on admin": client.get("/admin/v1/customers", headers=tenant),
        "tenant refresh on admin": client.get("/admin/v1/customers", headers={
            "Authorization": f"Bearer {owner.tokens['refresh_token']}"}),
        "mfa token on admin": client.get("/admin/v1/customers", headers={"Authorization": f"Bearer {mfa_token}"}),
        "admin refresh on admin": client.get("/admin/v1/customers", headers={
            "Authorization": f"Bearer {admin.tokens['refresh_token']}"}),
        "admin access on tenant": client.get("/v1/me", headers=admin.headers),
        "mfa token on tenant": client.get("/v1/me", headers={"Authorization": f"Bearer {mfa_token}"}),
        "tenant refresh as admin refresh": client.post("/admin/v1/auth/refresh",
                                                       json={"refresh_token": owner.tokens["refresh_token"]}),
        "admin access as mfa token": client.post("/admin/v1/auth/mfa", json={
            "mfa_token": admin.tokens["access_token"], "code": "123456"}),
    }
    assert {name: r.status_code for name, r in refused.items()} == {name: 401 for name in refused}
    assert all(r.json()["error"]["code"] == "invalid_token" for r in refused.values())
    # Each still works where it belongs.
    assert client.get("/v1/me", headers=tenant).status_code == 200
    assert admin.get("/admin/v1/customers").status_code == 200


def test_a_totp_code_is_good_once(client, settings):
    admin = signed_in_admin(client, settings)  # used the current code
    again = client.post("/admin/v1/auth/mfa", json={"mfa_token": password_step(client, admin.email).json()["mfa_token"],
                                                    "code": pyotp.TOTP(admin.totp_secret).now()})
    assert again.status_code == 401
    assert again.json()["error"]["code"] == "invalid_mfa_code"
    assert "used already" in again.json()["error"]["message"]


def test_recovery_codes_work_once(client, settings):
    admin = signed_in_admin(client, settings)
    code = admin.recovery_codes[0]
    assert sign_in_with_recovery_code(admin)["access_token"]  # pops the last code
    first = client.post("/admin/v1/auth/mfa", json={"mfa_token": password_step(client, admin.email).json()["mfa_token"],
                                                    "code": code})
    assert first.status_code == 200, first.text
    second = client.post("/admin/v1/auth/mfa", json={
        "mfa_token": password_step(client, admin.email).json()["mfa_token"], "code": code})
    assert second.status_code == 401


def test_wrong_codes_throttle_the_admin(client, settings):
    _, email, _, secret = create_admin(settings)
    mfa_token = password_step(client, email).json()["mfa_token"]
    right = pyotp.TOTP(secret).now()
    wrong = "000000" if right != "000000" else "111111"
    answers = [client.post("/admin/v1/auth/mfa", json={"mfa_token": mfa_token, "code": wrong}).status_code
               for _ in range(settings.admin.login_attempts)]
    assert answers == [401] * settings.admin.login_attempts
    throttled = client.post("/admin/v1/auth/mfa", json={"mfa_token": mfa_token, "code": right})
    assert throttled.status_code == 429  # even the right code, until the window passes
    assert throttled.json()["error"]["code"] == "too_many_attempts"
    assert int(throttled.headers["retry-after"]) >= 1


def test_wrong_passwords_throttle_the_admin(client, settings):
    _, email, _, _ = create_admin(settings)
    answers = [password_step(client, email, "wrong password!").status_code
               for _ in range(settings.admin.login_attempts)]
    assert answers == [401] * settings.admin.login_attempts
    assert password_step(client, email, ADMIN_PASSWORD).status_code == 429


def test_sessions_are_listed_and_revoking_one_ends_it_at_once(client, settings):
    admin = signed_in_admin(client, settings)
    other = sign_in_with_recovery_code(admin)
    sessions = admin.get("/admin/v1/auth/sessions").json()["items"]
    assert len(sessions) == 2
    other_id = next(s["id"] for s in sessions if not s["current"])
    assert admin.delete(f"/admin/v1/auth/sessions/{other_id}").status_code == 204
    ended = client.get("/admin/v1/customers", headers={"Authorization": f"Bearer {other['access_token']}"})
    assert (ended.status_code, ended.json()["error"]["code"]) == (401, "session_revoked")
    assert client.post("/admin/v1/auth/refresh", json={"refresh_token": other["refresh_token"]}).status_code == 401
    assert admin.get("/admin/v1/customers").status_code == 200


def test_refresh_rotates_and_a_reused_refresh_token_revokes_the_session(client, settings):
    admin = signed_in_admin(client, settings)
    first = client.post("/admin/v1/auth/refresh", json={"refresh_token": admin.tokens["refresh_token"]})
    assert first.status_code == 200, first.text
    reused = client.post("/admin/v1/auth/refresh", json={"refresh_token": admin.tokens["refresh_token"]})
    assert (reused.status_code, reused.json()["error"]["code"]) == (401, "refresh_token_reused")
    after = client.get("/admin/v1/customers", headers={"Authorization": f"Bearer {first.json()['access_token']}"})
    assert after.status_code == 401


def test_a_disabled_admin_is_out_at_once(client, settings, capsys):
    from objecta.admin import _toggle
    import asyncio

    admin = signed_in_admin(client, settings)
    assert asyncio.run(_toggle(settings, admin.email, True)) == 0
    refused = admin.get("/admin/v1/customers")
    assert (refused.status_code, refused.json()["error"]["code"]) == (401, "session_revoked")
    assert password_step(client, admin.email).status_code == 401


def test_a_support_admin_is_refused_a_superadmin_action(client, settings, owner):
    support = signed_in_admin(client, settings, role="support")
    refused = support.patch(f"/admin/v1/customers/{owner.org_id}", json={"suspend": True, "reason": "abuse"})
    assert (refused.status_code, refused.json()["error"]["code"]) == (403, "forbidden")
    assert support.get("/admin/v1/audit-logs").status_code == 403
    assert support.post("/admin/v1/broadcasts", json={"type": "system.update", "message": "x"}).status_code == 403
    # What support does is allowed.
    assert support.patch(f"/admin/v1/customers/{owner.org_id}", json={"note": "called them"}).status_code == 200
    assert owner.get("/v1/me").status_code == 200  # not suspended by the refused request


def test_admin_routes_refuse_addresses_outside_the_allowed_networks(settings):
    only_vpn = dataclasses.replace(settings, admin=dataclasses.replace(
        settings.admin, allowed_networks=(ipaddress.ip_network("10.0.0.0/8"),)))
    with client_of(only_vpn) as outside:
        for response in (outside.post("/admin/v1/auth/login", json={"email": "a@b.co", "password": "x"}),
                         outside.get("/admin/v1/customers", headers={"Authorization": "Bearer x"})):
            assert (response.status_code, response.json()["error"]["code"]) == (403, "network_not_allowed")
        assert outside.get("/healthz").status_code == 200  # tenant routes are not affected


def test_every_admin_route_declares_its_audit_action(client):
    from edge.admin.guard import Audited

    handlers = [h for route in client.app.routes for h in getattr(route, "route_handlers", [])
                if "admin" in h.parsed_fn_signature.parameters]
    assert len(handlers) >= 10
    assert [h for h in handlers if not isinstance(h.opt.get("audit"), Audited)] == []


def test_objecta_admin_create_prints_the_totp_secret_and_uri(client, settings, capsys):
    import asyncio
    import json
    from argparse import Namespace

    from objecta.admin import _create

    email = f"cli-{pyotp.random_base32()[:8].lower()}@objecta.example"
    assert asyncio.run(_create(settings, Namespace(email=email, password=ADMIN_PASSWORD, role="billing",
                                                   name="Ops"))) == 0
    printed = json.loads(capsys.readouterr().out)
    assert printed["role"] == "billing" and len(printed["recovery_codes"]) == 10
    assert printed["otpauth_uri"].startswith("otpauth://totp/") and printed["totp_secret"] in printed["otpauth_uri"]
    mfa_token = password_step(client, email).json()["mfa_token"]
    signed_in = client.post("/admin/v1/auth/mfa", json={"mfa_token": mfa_token,
                                                        "code": pyotp.TOTP(printed["totp_secret"]).now()})
    assert signed_in.status_code == 200 and signed_in.json()["role"] == "billing"
