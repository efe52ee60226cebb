"""Accounts: sign-up, login, token rotation, logout and the per-request check."""

from __future__ import annotations

import asyncio
import uuid
from dataclasses import dataclass
from datetime import datetime, timedelta, timezone

from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncSession

from domain.accounts import devices, lifecycle, passwords, repository
from domain.accounts.alerts import NoAlerts, SecurityAlerts
from domain.accounts.devices import SignInClient
from domain.accounts.errors import (EmailTaken, InvalidCredentials, InvalidToken, OrganizationSuspended,
                                    NoOrganization, RefreshTokenReused, TooManyAttempts)
from domain.accounts.models import Membership, Organization, RefreshToken, User
from domain.accounts.normalize import normalize_email, normalize_password
from domain.accounts.permissions import allows
from domain.accounts.tokens import Principal, RefreshClaims, TokenIssuer
from domain.db import FirstRead, bind_tenant
from domain.errors import Forbidden, InvalidInput, NotFound, Unauthorized
from domain.ratelimit import RateLimiter

@dataclass(frozen=True)
class Tokens:
    access_token: str
    refresh_token: str
    expires_in: int
    user_id: uuid.UUID
    org_id: uuid.UUID | None  # None: the person belongs to no organization (yet)
    token_type: str = "bearer"


@dataclass(frozen=True)
class Member:
    """The caller as the database sees them right now."""

    principal: Principal
    role: str


async def organization_grants(session: AsyncSession, org_id: uuid.UUID) -> tuple[int, int]:
    """(extra seats, extra agents) granted by the admin realm on top of the organization's plan."""
    return await repository.organization_grants(session, org_id)


@dataclass(frozen=True)
class LoginLockout:
    """Failed logins one account may have: `attempts` per `window` seconds, then `daily` per day (the lock
    grows from minutes to the rest of the day). Counted per address, whether or not an account has it."""

    attempts: int = 5
    window: int = 900
    daily: int = 20

    def checks(self) -> list[tuple[str, int, int]]:
        return [("login_failures", self.attempts, self.window), ("login_failures_daily", self.daily, 86_400)]


class AccountService:
    def __init__(self, issuer: TokenIssuer, bcrypt_rounds: int, lockout: LoginLockout | None = None,
                 alerts: SecurityAlerts | None = None):
        self.issuer = issuer
        self.bcrypt_rounds = bcrypt_rounds
        self.lockout = lockout or LoginLockout()
        self.alerts: SecurityAlerts = alerts or NoAlerts()
        self._dummy_hash: str | None = None

    async def _refuse_if_locked(self, limiter: RateLimiter, email: str) -> None:
        """429 while the address has used up its failures, before the password is even looked at: the right
        password is refused too until the lock passes, so guessing gains nothing."""
        for name, limit, window in self.lockout.checks():
            verdict = await limiter.peek(name, email, limit, window)
            if not verdict.allowed:
                raise TooManyAttempts("too many failed sign-ins for this account; wait before trying again",
                                      retry_after=verdict.retry_after, details={"retry_after": verdict.retry_after})

    async def _count_failure(self, limiter: RateLimiter, email: str) -> int:
        """Count a failed login; the count in the short window (the alert fires when it reaches the limit)."""
        counts = [(await limiter.hit(name, email, limit, window)).count
                  for name, limit, window in self.lockout.checks()]
        return counts[0]

    async def hash_password(self, password: str) -> str:
        """bcrypt costs ~0.25 s at cost 12: keep it off the event loop. Hashes the NFKC form."""
        password = normalize_password(password)
        passwords.check_strength(password)
        return await asyncio.to_thread(passwords.hash_password, password, self.bcrypt_rounds)

    async def _verify(self, password: str, hashed: str | None) -> bool:
        if hashed is None:
            # Unknown email: spend the same time as a wrong password would.
            if self._dummy_hash is None:
                self._dummy_hash = passwords.dummy_hash(self.bcrypt_rounds)
            await asyncio.to_thread(passwords.verify_password, password, self._dummy_hash)
            return False
        return await asyncio.to_thread(passwords.verify_password, normalize_password(password), hashed)

    async def _verify_legacy(self, user: User, password: str) -> bool:
        """A hash made before passwords were normalized (migration 0014) is of the raw password: accept it
        once and store the normalized form's hash instead. Costs a second bcrypt only for such passwords."""
        if normalize_password(password) == password:
            return False
        if not await asyncio.to_thread(passwords.verify_password, password, user.password_hash):
            return False
        user.password_hash = await self.hash_password(password)
        return True

    async def verify_password(self, user: User, password: str) -> bool:
        """Whether `password` is the person's (re-hashing a pre-normalization hash on success)."""
        return await self._verify(password, user.password_hash) or await self._verify_legacy(user, password)

    async def _note_device(self, session: AsyncSession, user: User, org_id: uuid.UUID | None,
                           client: SignInClient | None, *, alert: bool = True) -> None:
        """Remember where the person signed in from; a device or network never seen before (when others were)
        emails them, with a "this wasn't me" link that ends every session."""
        digest, label = devices.fingerprint(client or SignInClient())
        had_devices = await repository.has_known_devices(session, user.id)
        if await repository.remember_device(session, user.id, digest, label) and had_devices and alert:
            _, not_me_path = await lifecycle.issue_link(session, self, user.id, lifecycle.NOT_ME)
            await self.alerts.new_sign_in(session, user, org_id, device=label, ip=client.ip if client else None,
                                          not_me_path=not_me_path)

    async def signup(self, session: AsyncSession, *, email: str, password: str, name: str,
                     organization_name: str, client: SignInClient | None = None) -> Tokens:
        """Create an organization with its first user as owner, log them in, and email a link to verify
        the address (until then the account may not make us email others: see domain/accounts/lifecycle.py)."""
        email = normalize_email(email)
        password_hash = await self.hash_password(password)
        org_id, user_id = uuid.uuid4(), uuid.uuid4()
        await bind_tenant(session, org_id=org_id, user_id=user_id)
        session.add(Organization(id=org_id, name=organization_name.strip()))
        session.add(User(id=user_id, email=email, name=name.strip(), password_hash=password_hash))
        try:
            await session.flush()
        except IntegrityError as e:
            raise EmailTaken("an account with this email already exists; if the address is yours, "
                             "reset the password (POST /v1/auth/password-reset)") from e
        session.add(Membership(org_id=org_id, user_id=user_id, role="owner"))
        await session.flush()
        user = await repository.get_user(session, user_id)
        await lifecycle.send_verification(session, self, user)
        await self._note_device(session, user, org_id, client, alert=False)
        return await self.start_session(session, user_id, org_id)

    async def login(self, session: AsyncSession, limiter: RateLimiter, *, email: str, password: str,
                    organization_id: uuid.UUID | None = None, client: SignInClient | None = None) -> Tokens:
        """Check the password and open a session in the chosen (or first) organization.

        Failed attempts are counted per address (`LoginLockout`); past the limit every attempt, right or
        wrong, known address or not, gets the same `TooManyAttempts` until the window passes."""
        try:
            email = normalize_email(email)
        except InvalidInput:
            raise InvalidCredentials("wrong email or password") from None
        await self._refuse_if_locked(limiter, email)
        await bind_tenant(session, login_email=email)
        user = await repository.user_by_email(session, email)
        if not await self._verify(password, user.password_hash if user else None):
            if user is None or not await self._verify_legacy(user, password):
                failures = await self._count_failure(limiter, email)
                refusal = InvalidCredentials("wrong email or password")
                if user is not None and failures == self.lockout.attempts:
                    # The burst that locks the account: tell its owner (and commit that, the answer unchanged).
                    await self._alert_failures(session, user, failures, client)
                    refusal.keeps_changes = True
                raise refusal
        await bind_tenant(session, user_id=user.id)
        memberships = await repository.memberships_of(session, user.id)
        if not memberships and organization_id is None:
            # Removed from their last organization: still a person, who may create one or accept an invitation.
            await self._note_device(session, user, None, client)
            return await self.start_session(session, user.id, None)
        chosen = [m for m in memberships if organization_id in (None, m.org_id)]
        if not chosen:
            raise InvalidCredentials("this account belongs to no such organization")
        await bind_tenant(session, org_id=chosen[0].org_id)
        await self._note_device(session, user, chosen[0].org_id, client)
        return await self.start_session(session, user.id, chosen[0].org_id)

    async def _alert_failures(self, session: AsyncSession, user: User, failures: int,
                              client: SignInClient | None) -> None:
        await bind_tenant(session, user_id=user.id)
        memberships = await repository.memberships_of(session, user.id)
        org_id = memberships[0].org_id if memberships else None
        if org_id is not None:
            await bind_tenant(session, org_id=org_id)
        await self.alerts.failed_sign_ins(session, user, org_id, count=failures, ip=client.ip if client else None)

    async def start_session(self, session: AsyncSession, user_id: uuid.UUID, org_id: uuid.UUID | None,
                            family_id: uuid.UUID | None = None) -> Tokens:
        """Issue an access token and a refresh token (a new family unless rotating)."""
        token = RefreshToken(id=uuid.uuid4(), family_id=family_id or uuid.uuid4(), org_id=org_id, user_id=user_id,
                             expires_at=datetime.now(timezone.utc) + timedelta(seconds=self.issuer.refresh_ttl))
        session.add(token)
        await session.flush()
        claims = RefreshClaims(token.id, token.family_id, user_id, org_id)
        return Tokens(access_token=self.issuer.access_token(user_id, org_id, token.family_id),
                      refresh_token=self.issuer.refresh_token(claims),
                      expires_in=self.issuer.access_ttl, user_id=user_id, org_id=org_id)

    async def refresh(self, session: AsyncSession, refresh_token: str, client: SignInClient | None = None) -> Tokens:
        """Rotate: the presented token is spent and a new one of the same family issued.

        A token presented twice means it was copied: the whole family is revoked
        (the thief's and the owner's sessions both end) and the error commits.
        """
        claims = self.issuer.verify_refresh(refresh_token)
        await bind_tenant(session, org_id=claims.org_id, user_id=claims.user_id)
        stored = await repository.refresh_token_for_update(session, claims.token_id)
        if stored is None or stored.revoked_at is not None:
            raise InvalidToken("refresh token revoked; sign in again", code="refresh_token_revoked")
        if stored.used_at is not None:
            await repository.revoke_family(session, stored.family_id)
            user = await repository.get_user(session, claims.user_id)
            if user is not None:
                await self.alerts.refresh_token_reused(session, user, claims.org_id,
                                                       ip=client.ip if client else None)
            raise RefreshTokenReused("refresh token already used; every session of this login is revoked")
        now = datetime.now(timezone.utc)
        if stored.expires_at <= now:
            raise InvalidToken("refresh token expired; sign in again", code="token_expired")
        await repository.mark_used(session, stored, now)
        return await self.start_session(session, claims.user_id, claims.org_id, family_id=stored.family_id)

    async def logout(self, session: AsyncSession, principal: Principal) -> None:
        """End this login: its refresh tokens die and its access tokens stop working."""
        await repository.revoke_family(session, principal.session_id)

    def authorization_read(self, principal: Principal) -> FirstRead | None:
        """What `authorize` reads, for a transaction to begin with (`Database.transaction(first_reads=...)`):
        the check then costs no round trip of its own."""
        if principal.org_id is None:
            return None
        return repository.live_role_read(principal.org_id, principal.user_id, principal.session_id)

    async def authorize(self, session: AsyncSession, principal: Principal, permission: str | None = None) -> Member:
        """The per-request check: membership and session still live, role high enough."""
        if principal.org_id is None:
            await self.require_live_session(session, principal)
            raise NoOrganization("you belong to no organization: create one (POST /v1/organizations) or accept "
                                 "an invitation")
        live = await repository.live_role(session, principal.org_id, principal.user_id, principal.session_id)
        if live is None:
            raise Unauthorized("session ended; sign in again", code="session_revoked")
        role, suspended_at = live
        if suspended_at is not None:
            raise OrganizationSuspended("this organization is suspended; contact support",
                                        details={"suspended_at": suspended_at.isoformat()})
        if permission is not None and not allows(role, permission):
            raise Forbidden(f"your role ({role}) does not allow {permission}",
                            details={"permission": permission, "role": role})
        return Member(principal, role)

    async def require_live_session(self, session: AsyncSession, principal: Principal) -> None:
        """The person's login is live (any organization, or none): for routes about the person, not a tenant."""
        if not await repository.live_session(session, principal.user_id, principal.session_id):
            raise Unauthorized("session ended; sign in again", code="session_revoked")

    async def create_organization(self, session: AsyncSession, principal: Principal, name: str) -> Tokens:
        """A new organization owned by the caller (with or without organizations already), and a session in it."""
        await self.require_live_session(session, principal)
        org_id = uuid.uuid4()
        await bind_tenant(session, org_id=org_id)
        session.add(Organization(id=org_id, name=name.strip()))
        await session.flush()
        session.add(Membership(org_id=org_id, user_id=principal.user_id, role="owner"))
        await session.flush()
        return await self.start_session(session, principal.user_id, org_id)

    async def profile(self, session: AsyncSession, member: Member) -> tuple[User, Organization]:
        user = await repository.get_user(session, member.principal.user_id)
        org = await repository.get_organization(session, member.principal.org_id)
        if user is None or org is None:
            raise NotFound("account not found")
        return user, org
