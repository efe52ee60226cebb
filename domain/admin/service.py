"""The admin realm's rules: admins, two-step login with TOTP, sessions, and the per-request check.

Login is two steps. The password answers a short-lived `mfa_token` that is
good only for the code step; a TOTP code (or a one-time recovery code) then
opens a session: an access token (short) and a refresh token (rotated; an old
one coming back revokes the session). A TOTP code is accepted once: its time
step must be newer than the last one accepted for that admin. Wrong passwords
and codes are throttled per admin and per IP. Every request checks in one
query that the session is live and the admin enabled, so revoking a session or
disabling an admin takes effect on the next request.
"""

from __future__ import annotations

import asyncio
import dataclasses
import hashlib
import secrets
import uuid
from datetime import datetime, timedelta, timezone

import pyotp
from sqlalchemy.ext.asyncio import AsyncSession

from domain.accounts import passwords
from domain.accounts.service import normalize_email
from domain.admin import repository
from domain.admin.errors import (AdminExists, AdminNotFound, AdminNotAssignable, AdminRefreshReused, AdminForbidden, AdminInvalidCredentials, AdminSessionEnded,
                                 AdminSessionNotFound, AdminTokenInvalid, InvalidMfaCode, TooManyAttempts)
from domain.admin.models import Admin, AdminPrincipal, AdminSession, AdminTokens, AdminUser, MfaChallenge
from domain.admin.permissions import ROLES, allows
from domain.admin.tokens import AdminTokenIssuer
from domain.errors import InvalidInput
from domain.models import utcnow
from domain.ratelimit import RateLimiter

RECOVERY_CODES = 10
# A code of the previous or next 30 s step is accepted too (clock drift); replays are still refused by step.
TOTP_DRIFT_STEPS = 1
IP_FACTOR = 4  # one address may try for a few admins before it is throttled


def hash_recovery_code(code: str) -> str:
    return hashlib.sha256(code.strip().lower().replace("-", "").encode()).hexdigest()


class AdminService:
    def __init__(self, issuer: AdminTokenIssuer, *, bcrypt_rounds: int, attempts: int, window: int,
                 totp_issuer: str):
        self.issuer = issuer
        self.bcrypt_rounds = bcrypt_rounds
        self.attempts, self.window = attempts, window
        self.totp_issuer = totp_issuer
        self._dummy_hash: str | None = None

    # Admins ----------------------------------------------------------------------------------

    async def create_admin(self, session: AsyncSession, *, email: str, password: str, role: str,
                           name: str = "") -> tuple[AdminUser, list[str]]:
        """A new admin with a fresh TOTP secret and recovery codes (shown once, stored hashed)."""
        email = normalize_email(email)
        if role not in ROLES:
            raise InvalidInput(f"role must be one of {', '.join(ROLES)}", details={"field": "role"})
        passwords.check_strength(password)
        password_hash = await asyncio.to_thread(passwords.hash_password, password, self.bcrypt_rounds)
        admin = AdminUser(id=uuid.uuid4(), email=email, name=name, role=role, password_hash=password_hash,
                          totp_secret=pyotp.random_base32(), disabled_at=None, created_at=utcnow())
        if not await repository.insert_admin(session, admin):
            raise AdminExists(f"an admin with email {email} exists")
        return admin, await self._new_recovery_codes(session, admin.id)

    def otpauth_uri(self, admin: AdminUser) -> str:
        return pyotp.TOTP(admin.totp_secret).provisioning_uri(name=admin.email, issuer_name=self.totp_issuer)

    async def set_disabled(self, session: AsyncSession, email: str, disabled: bool) -> bool:
        """Disable (or enable) an admin: their sessions stop working on the next request."""
        return await repository.set_disabled(session, normalize_email(email), disabled)

    async def reset_totp(self, session: AsyncSession, email: str) -> tuple[AdminUser, list[str], int]:
        """A lost authenticator: a new TOTP secret and new recovery codes, and every session of the admin
        revoked (whoever holds the old device is out). The admin, the codes (shown once) and the sessions
        revoked. An operator's CLI step, not a route: whoever lost the device cannot pass the code step."""
        admin = await repository.admin_by_email(session, normalize_email(email))
        if admin is None:
            raise AdminNotFound(f"no admin with email {email}")
        admin = dataclasses.replace(admin, totp_secret=pyotp.random_base32())
        await repository.set_totp_secret(session, admin.id, admin.totp_secret)
        codes = await self._new_recovery_codes(session, admin.id)
        return admin, codes, await repository.revoke_all_sessions(session, admin.id)

    async def regenerate_recovery_codes(self, session: AsyncSession, limiter: RateLimiter, admin: Admin, *,
                                        code: str, ip: str | None) -> list[str]:
        """New recovery codes for a signed-in admin who proves the device again with a fresh TOTP code
        (once, throttled like the sign-in's code step); the old codes stop working."""
        await self._refuse_if_throttled(limiter, "mfa", str(admin.id), ip)
        found = await repository.admin_by_id(session, admin.id)
        digits = code.strip().replace(" ", "")
        step = self._matching_step(found.totp_secret, digits) if digits.isdigit() and len(digits) == 6 else None
        if step is None or not await repository.use_totp_step(session, admin.id, step):
            await self._count_failure(limiter, "mfa", str(admin.id), ip)
            raise InvalidMfaCode("a fresh code of your authenticator app is needed (not a recovery code, "
                                 "not one used already)")
        return await self._new_recovery_codes(session, admin.id)

    async def _new_recovery_codes(self, session: AsyncSession, admin_id: uuid.UUID) -> list[str]:
        """RECOVERY_CODES new codes replacing the admin's old ones; stored hashed, answered once."""
        codes = [secrets.token_hex(8) for _ in range(RECOVERY_CODES)]
        await repository.add_recovery_codes(session, admin_id, [hash_recovery_code(c) for c in codes])
        return [f"{c[:8]}-{c[8:]}" for c in codes]

    # Login -----------------------------------------------------------------------------------

    def _subjects(self, step: str, subject: str, ip: str | None) -> list[tuple[str, str, int]]:
        checks = [(f"admin_{step}", subject, self.attempts)]
        if ip:
            checks.append((f"admin_{step}_ip", ip, self.attempts * IP_FACTOR))
        return checks

    async def _refuse_if_throttled(self, limiter: RateLimiter, step: str, subject: str, ip: str | None) -> None:
        """429 while the admin or the address has used up its failures of `step` in this window."""
        for name, who, limit in self._subjects(step, subject, ip):
            verdict = await limiter.peek(name, who, limit, self.window)
            if not verdict.allowed:
                raise TooManyAttempts("too many failed attempts; wait before trying again",
                                      retry_after=verdict.retry_after, details={"retry_after": verdict.retry_after})

    async def _count_failure(self, limiter: RateLimiter, step: str, subject: str, ip: str | None) -> None:
        # Only failures count: an admin signing in often is never throttled, a guesser soon is.
        for name, who, limit in self._subjects(step, subject, ip):
            await limiter.hit(name, who, limit, self.window)

    async def login(self, session: AsyncSession, limiter: RateLimiter, *, email: str, password: str,
                    ip: str | None) -> tuple[AdminUser, MfaChallenge]:
        """Step one: the password. Answers an `mfa_token`; the admin (for the audit log) when known."""
        try:
            email = normalize_email(email)
        except InvalidInput:
            raise AdminInvalidCredentials("wrong email or password") from None
        await self._refuse_if_throttled(limiter, "login", email, ip)
        admin = await repository.admin_by_email(session, email)
        if self._dummy_hash is None:
            self._dummy_hash = passwords.dummy_hash(self.bcrypt_rounds)
        hashed = admin.password_hash if admin else self._dummy_hash
        ok = await asyncio.to_thread(passwords.verify_password, password, hashed)
        if admin is None or not ok or admin.disabled_at is not None:
            await self._count_failure(limiter, "login", email, ip)
            raise AdminInvalidCredentials("wrong email or password")
        return admin, MfaChallenge(self.issuer.mfa_token(admin.id), self.issuer.mfa_ttl)

    async def admin_of_mfa_token(self, session: AsyncSession, mfa_token: str) -> AdminUser:
        admin = await repository.admin_by_id(session, self.issuer.verify_mfa(mfa_token))
        if admin is None or admin.disabled_at is not None:
            raise AdminTokenInvalid("this admin can no longer sign in")
        return admin

    async def verify_mfa(self, session: AsyncSession, limiter: RateLimiter, admin: AdminUser, *, code: str,
                         ip: str | None, user_agent: str | None) -> AdminTokens:
        """Step two: a TOTP code (once) or an unused recovery code; opens a session."""
        await self._refuse_if_throttled(limiter, "mfa", str(admin.id), ip)
        digits = code.strip().replace(" ", "")
        refusal = None
        if digits.isdigit() and len(digits) == 6:
            step = self._matching_step(admin.totp_secret, digits)
            if step is None:
                refusal = "wrong code"
            elif not await repository.use_totp_step(session, admin.id, step):
                refusal = "this code was used already; wait for the next one"
        elif not await repository.use_recovery_code(session, admin.id, hash_recovery_code(digits)):
            refusal = "wrong code"
        if refusal is not None:
            await self._count_failure(limiter, "mfa", str(admin.id), ip)
            raise InvalidMfaCode(refusal)
        refresh_id = uuid.uuid4()
        session_id = await repository.open_session(session, admin.id, refresh_id, ip=ip, user_agent=user_agent,
                                                   expires_at=self._refresh_expiry())
        return self._tokens(admin.id, admin.role, session_id, refresh_id)

    @staticmethod
    def _matching_step(secret: str, code: str) -> int | None:
        totp, now = pyotp.TOTP(secret), datetime.now(timezone.utc)
        current = totp.timecode(now)
        for offset in range(-TOTP_DRIFT_STEPS, TOTP_DRIFT_STEPS + 1):
            when = now + timedelta(seconds=offset * totp.interval)
            if secrets.compare_digest(totp.at(when), code):
                return current + offset
        return None

    def _refresh_expiry(self) -> datetime:
        return utcnow() + timedelta(seconds=self.issuer.refresh_ttl)

    def _tokens(self, admin_id: uuid.UUID, role: str, session_id: uuid.UUID, refresh_id: uuid.UUID) -> AdminTokens:
        return AdminTokens(access_token=self.issuer.access_token(admin_id, session_id),
                           refresh_token=self.issuer.refresh_token(admin_id, session_id, refresh_id),
                           expires_in=self.issuer.access_ttl, admin_id=admin_id, role=role)

    async def refresh(self, session: AsyncSession, refresh_token: str) -> AdminTokens:
        """Rotate the refresh token; an old one presented again revokes the session (it was copied)."""
        admin_id, session_id, refresh_id = self.issuer.verify_refresh(refresh_token)
        new_id = uuid.uuid4()
        outcome = await repository.rotate_refresh(session, session_id, admin_id, refresh_id, new_id,
                                                  self._refresh_expiry())
        if outcome == "reused":
            raise AdminRefreshReused("refresh token already used; the session is revoked")
        if outcome != "rotated":
            raise AdminSessionEnded("session ended; sign in again")
        admin = await repository.admin_by_id(session, admin_id)
        return self._tokens(admin_id, admin.role, session_id, new_id)

    # Sessions and the per-request check ------------------------------------------------------

    def principal(self, token: str) -> AdminPrincipal:
        return self.issuer.verify_access(token)

    async def authorize(self, session: AsyncSession, principal: AdminPrincipal, *permissions: str) -> Admin:
        """Live session, enabled admin (one query), and the role holds every one of `permissions`."""
        found = await repository.live_admin(session, principal.admin_id, principal.session_id)
        if found is None:
            raise AdminSessionEnded("session ended; sign in again")
        email, role = found
        for permission in permissions:
            if not allows(role, permission):
                raise AdminForbidden(f"your admin role ({role}) does not allow {permission}",
                                     details={"permission": permission, "role": role})
        return Admin(principal.admin_id, email, role, principal.session_id)

    async def assignable_email(self, session: AsyncSession, admin_id: uuid.UUID) -> str:
        """The email of an admin tickets may be assigned to (enabled, and their role works tickets)."""
        found = await repository.admin_by_id(session, admin_id)
        if found is None or found.disabled_at is not None or not allows(found.role, "tickets.write"):
            raise AdminNotAssignable("no such admin works tickets", details={"field": "assignee_id"})
        return found.email

    async def sessions(self, session: AsyncSession, admin: Admin) -> list[AdminSession]:
        return await repository.sessions_of(session, admin.id)

    async def revoke(self, session: AsyncSession, admin: Admin, session_id: uuid.UUID) -> None:
        """End one of the caller's own sessions (the current one included: that is logout)."""
        if not await repository.revoke_session(session, admin.id, session_id):
            raise AdminSessionNotFound("no such session of yours")
