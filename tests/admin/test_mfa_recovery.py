"""An admin's own MFA upkeep: new recovery codes with a fresh code; a lost authenticator reset from the CLI."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time

import pyotp

from tests.admin.helpers import password_step, signed_in_admin

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))


def _next_code(secret: str) -> str:
    # The sign-in used this step's code; the next step's is fresh and within the accepted drift.
    return pyotp.TOTP(secret).at(time.time() + 30)


def _mfa(client, email: str, code: str):
    first = password_step(client, email)
    return client.post("/admin/v1/auth/mfa", json={"mfa_token": first.json()["mfa_token"], "code": code})


def test_recovery_codes_are_replaced_only_with_a_fresh_authenticator_code(client, settings):
    admin = signed_in_admin(client, settings)  # a superadmin: it reads the audit log below
    old_codes = list(admin.recovery_codes)
    for wrong in ("000000", old_codes[0], pyotp.TOTP(admin.totp_secret).now()):  # wrong, recovery, used already
        refused = admin.post("/admin/v1/auth/recovery-codes", json={"code": wrong})
        assert (refused.status_code, refused.json()["error"]["code"]) == (401, "invalid_mfa_code"), wrong
    made = admin.post("/admin/v1/auth/recovery-codes", json={"code": _next_code(admin.totp_secret)})
    assert made.status_code == 200, made.text
    new_codes = made.json()["recovery_codes"]
    assert len(new_codes) == 10 and not set(new_codes) & set(old_codes)
    assert _mfa(client, admin.email, old_codes[1]).status_code == 401  # the old codes are gone
    assert _mfa(client, admin.email, new_codes[0]).status_code == 200
    rows = admin.get("/admin/v1/audit-logs", params={"admin_id": admin.id,
                                                     "action": "admin.recovery_codes.regenerate"}).json()["items"]
    assert sorted(r["outcome"] for r in rows) == ["denied", "denied", "denied", "success"]


def test_reset_totp_for_a_lost_device_revokes_every_session(client, settings, test_env):
    admin = signed_in_admin(client, settings)
    assert admin.get("/admin/v1/auth/sessions").status_code == 200
    env = {**os.environ, **test_env}
    done = subprocess.run([sys.executable, "-m", "objecta.cli", "admin", "reset-totp", "--email", admin.email],
                          env=env, cwd=ROOT, capture_output=True, text=True, timeout=60)
    assert done.returncode == 0, done.stderr
    printed = json.loads(done.stdout)
    assert printed["totp_secret"] != admin.totp_secret and printed["sessions_revoked"] == 1
    assert printed["otpauth_uri"].startswith("otpauth://totp/") and len(printed["recovery_codes"]) == 10
    gone = admin.get("/admin/v1/auth/sessions")
    assert (gone.status_code, gone.json()["error"]["code"]) == (401, "session_revoked")
    assert _mfa(client, admin.email, _next_code(admin.totp_secret)).status_code == 401  # the lost device
    assert _mfa(client, admin.email, admin.recovery_codes[0]).status_code == 401  # its old codes
    back = _mfa(client, admin.email, pyotp.TOTP(printed["totp_secret"]).now())
    assert back.status_code == 200, back.text
    admin.tokens = back.json()
    rows = admin.get("/admin/v1/audit-logs", params={"action": "admin.totp.reset"}).json()["items"]
    assert any(r["resource_id"] == admin.id and r["details"]["sessions_revoked"] == 1 for r in rows)
    unknown = subprocess.run([sys.executable, "-m", "objecta.cli", "admin", "reset-totp", "--email",
                              "nobody@objecta.example"], env=env, cwd=ROOT, capture_output=True, text=True, timeout=60)
    assert unknown.returncode == 1 and "no admin" in unknown.stderr
