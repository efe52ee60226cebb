"""Admins for the tests: created through the domain as `objecta admin create` does, and signed in over HTTP."""

from __future__ import annotations

import asyncio
import uuid
from dataclasses import dataclass

import pyotp

from objecta import wiring

ADMIN_PASSWORD = "an admin's long password"


@dataclass
class AdminAccount:
    client: object
    id: str
    email: str
    role: str
    totp_secret: str
    recovery_codes: list[str]
    tokens: dict | None = None

    @property
    def headers(self) -> dict:
        return {"Authorization": f"Bearer {self.tokens['access_token']}"}

    def get(self, path, **kw):
        return self.client.get(path, headers={**self.headers, **kw.pop("headers", {})}, **kw)

    def post(self, path, json=None, **kw):
        return self.client.post(path, json=json, headers={**self.headers, **kw.pop("headers", {})}, **kw)

    def patch(self, path, json=None, **kw):
        return self.client.patch(path, json=json, headers={**self.headers, **kw.pop("headers", {})}, **kw)

    def delete(self, path, **kw):
        return self.client.delete(path, headers={**self.headers, **kw.pop("headers", {})}, **kw)


def create_admin(settings, role: str = "superadmin") -> tuple[str, str, list[str], str]:
    """(id, email, recovery codes, totp secret) of a new admin."""
    email = f"admin-{uuid.uuid4().hex[:10]}@objecta.example"

    async def run():
        db = wiring.database(settings, jobs=None)
        try:
            async with db.transaction(system=True) as session:
                return await wiring.admin(settings).create_admin(session, email=email, password=ADMIN_PASSWORD,
                                                                 role=role)
        finally:
            await db.dispose()

    admin, codes = asyncio.run(run())
    return str(admin.id), email, codes, admin.totp_secret


def password_step(client, email: str, password: str = ADMIN_PASSWORD):
    return client.post("/admin/v1/auth/login", json={"email": email, "password": password})


def signed_in_admin(client, settings, role: str = "superadmin") -> AdminAccount:
    """A new admin, signed in with password and the current TOTP code."""
    admin_id, email, codes, secret = create_admin(settings, role)
    account = AdminAccount(client, admin_id, email, role, secret, codes)
    first = password_step(client, email)
    assert first.status_code == 200, first.text
    second = client.post("/admin/v1/auth/mfa", json={"mfa_token": first.json()["mfa_token"],
                                                     "code": pyotp.TOTP(secret).now()})
    assert second.status_code == 200, second.text
    account.tokens = second.json()
    return account


def sign_in_with_recovery_code(account: AdminAccount) -> dict:
    """Another session of `account` (a TOTP code is good once, so a second sign-in uses a recovery code)."""
    first = password_step(account.client, account.email)
    assert first.status_code == 200, first.text
    second = account.client.post("/admin/v1/auth/mfa", json={"mfa_token": first.json()["mfa_token"],
                                                             "code": account.recovery_codes.pop()})
    assert second.status_code == 200, second.text
    return second.json()
