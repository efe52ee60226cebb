"""An account's life after sign-up: verifying its address, resetting and changing its password,
changing its address, and "this wasn't me".

Every emailed link is a signed token (`TokenIssuer.link_token`: its own audience per purpose, an expiry)
naming one `account_tokens` row, which holds the token's SHA-256 and makes it single-use; sending a new
link of a purpose retires the older ones. Links carry paths; the email worker adds APP_URL.

What an unverified account may do (docs/decisions.md, 86): everything inside its own organization
(agents, commands, billing, support) except make us email other people: invitations are refused with
403 `email_not_verified` until the address is verified.

A squatted address (decision 87): someone who signs up with another person's address never verifies it,
and the real owner can take the account over with "forgot password": the reset link goes to the real
mailbox, and following it sets the password, marks the address verified and ends every session.
"""

from __future__ import annotations

import hashlib
import uuid
from datetime import datetime, timedelta, timezone
from typing import TYPE_CHECKING

from sqlalchemy.ext.asyncio import AsyncSession

from domain.accounts import repository
from domain.accounts.errors import AccountTokenInvalid, EmailNotVerified, EmailTaken, InvalidToken, WrongPassword
from domain.accounts.models import AccountToken, User
from domain.accounts.normalize import normalize_email
from domain.accounts.tokens import Principal
from domain.db import bind_tenant
from domain.errors import NotFound
from domain.mail.service import send_later
from domain.ratelimit import RateLimiter

if TYPE_CHECKING:  # the service calls us at sign-up
    from domain.accounts.service import AccountService

VERIFY_EMAIL, PASSWORD_RESET, NOT_ME = "verify_email", "password_reset", "not_me"
TTL = {VERIFY_EMAIL: 48 * 3600, PASSWORD_RESET: 3600, NOT_ME: 7 * 24 * 3600}
PATHS = {VERIFY_EMAIL: "/verify-email", PASSWORD_RESET: "/reset-password", NOT_ME: "/not-me"}
# Reset emails one address may receive per hour: enough for a person, too few to bomb a mailbox with.
RESETS_PER_HOUR = 3
INVALID = "this link is invalid, used, replaced by a newer one, or expired"


def _now() -> datetime:
    return datetime.now(timezone.utc)


def _hash(token: str) -> str:
    return hashlib.sha256(token.encode()).hexdigest()


async def issue_link(session: AsyncSession, accounts: AccountService, user_id: uuid.UUID, purpose: str,
                     email: str | None = None) -> tuple[uuid.UUID, str]:
    """A new link of `purpose` for the person (older unused ones of the purpose die): (row id, its path)."""
    await repository.retire_links(session, user_id, purpose)
    token_id = uuid.uuid4()
    token = accounts.issuer.link_token(purpose, user_id, token_id, TTL[purpose])
    session.add(AccountToken(id=token_id, user_id=user_id, purpose=purpose, email=email, token_hash=_hash(token),
                             expires_at=_now() + timedelta(seconds=TTL[purpose])))
    await session.flush()
    return token_id, f"{PATHS[purpose]}?token={token}"


async def _redeem(session: AsyncSession, accounts: AccountService, token: str, purpose: str) -> AccountToken:
    """The link's row, now spent; `AccountTokenInvalid` (410) for every way a link can be dead."""
    try:
        user_id, token_id = accounts.issuer.verify_link(token, purpose)
    except InvalidToken:
        raise AccountTokenInvalid(INVALID) from None
    await bind_tenant(session, user_id=user_id)
    row = await repository.link_for_update(session, token_id)
    if (row is None or row.purpose != purpose or row.used_at is not None or row.expires_at <= _now()
            or row.token_hash != _hash(token)):
        raise AccountTokenInvalid(INVALID)
    row.used_at = _now()
    await session.flush()
    return row


async def send_verification(session: AsyncSession, accounts: AccountService, user: User,
                            email: str | None = None) -> None:
    """Email a link proving `email` (the account's own address, or the new one of a change of address)."""
    address = email or user.email
    token_id, path = await issue_link(session, accounts, user.id, VERIFY_EMAIL, address)
    send_later(session, dedupe_key=f"verify_email:{token_id}", to=address, template="verify_email",
               context={"name": user.name, "action_path": path, "change": address != user.email})


async def resend_verification(session: AsyncSession, accounts: AccountService, principal: Principal) -> None:
    """Send the account's verification link again (no-op, still 202, when already verified)."""
    user = await _user(session, principal.user_id)
    if user.email_verified_at is None:
        await send_verification(session, accounts, user)


async def verify_email(session: AsyncSession, accounts: AccountService, token: str) -> User:
    """Follow a verification link: the address it names becomes the account's, verified."""
    row = await _redeem(session, accounts, token, VERIFY_EMAIL)
    user = await _user(session, row.user_id)
    if row.email != user.email:  # a change of address: the new one must still be free
        await bind_tenant(session, login_email=row.email)
        if await repository.email_in_use(session, row.email):
            raise EmailTaken("another account has taken this address meanwhile")
        # The old mailbox hears of it: if the change was not its owner's, they know to reset the password.
        send_later(session, dedupe_key=f"email_changed:{row.id}", to=user.email, template="notification",
                   context={"title": "Your ObjectaLabs email address was changed",
                            "body": f"The account that used this address now uses {row.email}. If you did not do "
                                    "this, reset your password from the new address or contact support.",
                            "action_path": "", "action_label": ""})
        user.email = row.email
    user.email_verified_at = _now()
    await session.flush()
    return user


async def require_verified(session: AsyncSession, user_id: uuid.UUID) -> None:
    """403 `email_not_verified` unless the person's address is verified (before we email others for them)."""
    user = await _user(session, user_id)
    if user.email_verified_at is None:
        raise EmailNotVerified("verify your email address first: follow the link we sent you, or ask for a "
                               "new one with POST /v1/auth/verify-email/resend")


async def request_password_reset(session: AsyncSession, accounts: AccountService, limiter: RateLimiter,
                                 email: str) -> None:
    """Email a reset link if an account has `email`. The caller answers the same either way, and both ways
    cost about the same (one lookup; the email is sent by a worker after commit)."""
    email = normalize_email(email)
    verdict = await limiter.hit("password_resets", email, RESETS_PER_HOUR, 3600)
    await bind_tenant(session, login_email=email)
    user = await repository.user_by_email(session, email)
    if user is None or not verdict.allowed:
        return
    await bind_tenant(session, user_id=user.id)
    token_id, path = await issue_link(session, accounts, user.id, PASSWORD_RESET)
    send_later(session, dedupe_key=f"password_reset:{token_id}", to=user.email, template="password_reset",
               context={"name": user.name, "action_path": path})


async def confirm_password_reset(session: AsyncSession, accounts: AccountService, token: str,
                                 password: str) -> User:
    """Set a new password from a reset link: every session of the person ends, and the address counts as
    verified (the link reached its mailbox; this is how a real owner takes back a squatted address)."""
    password_hash = await accounts.hash_password(password)  # a weak password leaves the link unspent
    row = await _redeem(session, accounts, token, PASSWORD_RESET)
    user = await _user(session, row.user_id)
    user.password_hash = password_hash
    user.email_verified_at = user.email_verified_at or _now()
    await repository.revoke_all_sessions(session, user.id)
    await repository.retire_links(session, user.id, PASSWORD_RESET)
    await session.flush()
    return user


async def change_password(session: AsyncSession, accounts: AccountService, principal: Principal, *,
                          current: str, new: str) -> None:
    """With the current password: set a new one and end every other session of the person."""
    user = await _user(session, principal.user_id)
    await _check_password(accounts, user, current)
    user.password_hash = await accounts.hash_password(new)
    await repository.revoke_all_sessions(session, user.id, except_family=principal.session_id)
    await session.flush()


async def change_email(session: AsyncSession, accounts: AccountService, principal: Principal, *,
                       email: str, password: str) -> None:
    """With the current password: email a verification link to the new address; the account's address
    changes only when that link is followed (so nobody moves an account to a mailbox they do not hold)."""
    email = normalize_email(email)
    user = await _user(session, principal.user_id)
    await _check_password(accounts, user, password)
    if email == user.email:
        return
    await bind_tenant(session, login_email=email)
    if await repository.email_in_use(session, email):
        raise EmailTaken("an account with this email already exists")
    await send_verification(session, accounts, user, email)


async def not_me(session: AsyncSession, accounts: AccountService, token: str) -> User:
    """Follow the "this wasn't me" link of a new-sign-in email: every session of the person ends at once
    (access tokens too: the guard needs a live session row). The password stays; the email says to reset it."""
    row = await _redeem(session, accounts, token, NOT_ME)
    user = await _user(session, row.user_id)
    await repository.revoke_all_sessions(session, user.id)
    await repository.retire_links(session, user.id, NOT_ME)
    return user


async def _check_password(accounts: AccountService, user: User, password: str) -> None:
    if not await accounts.verify_password(user, password):
        raise WrongPassword("the current password is wrong")


async def _user(session: AsyncSession, user_id: uuid.UUID) -> User:
    user = await repository.get_user(session, user_id)
    if user is None:
        raise NotFound("account not found")
    return user
