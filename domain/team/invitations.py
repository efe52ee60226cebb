"""Invitations: invite by email (a command), list, revoke, and accept (public).

The token is born in the worker (`issue`): 256 random bits, of which only
the SHA-256 hash is stored, in the same transaction that queues the email
carrying the link. The plaintext lives in the worker's memory, the email
job's message and the email itself; never in Postgres or the command's
payload (docs/decisions.md, 20).
"""

from __future__ import annotations

import hashlib
import secrets
import uuid
from dataclasses import dataclass
from datetime import timedelta
from typing import Any

from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncSession

from domain.accounts import repository as accounts_repository
from domain.accounts.models import Membership, User
from domain.accounts import lifecycle
from domain.accounts.service import AccountService, Tokens, normalize_email
from domain.accounts.tokens import Principal
from domain.activity import service as activity
from domain.commands import service as commands
from domain.commands.models import Command, CommandKind, Idempotency
from domain.db import bind_tenant
from domain.errors import InvalidInput
from domain.mail import service as mail
from domain.models import utcnow
from domain.notifications import service as notifications
from domain.ratelimit import RateLimiter
from domain.team import repository, service
from domain.team.limits import SeatLimits
from domain.team.errors import (
    AlreadyMember,
    InvitationInvalid,
    InvitationNotFound,
    LoginRequired,
    TooManyInvitations,
)
from domain.team.models import ACCEPTED, PENDING, REVOKED, Actor, Invitation

INVITE = CommandKind("team.invite", queue="team", actor="team.invite")
HOUR = 3600
INVALID = "this invitation link is not valid: it may have expired, been used or been revoked; ask for a new one"


@dataclass(frozen=True)
class InvitationRules:
    per_hour: int  # INVITATIONS_PER_HOUR, per organization
    ttl_hours: int  # INVITATION_TTL_HOURS


def token_hash(token: str) -> str:
    return hashlib.sha256(token.encode()).hexdigest()


async def invite(session: AsyncSession, actor: Actor, *, email: str, role: str, rules: InvitationRules,
                 limiter: RateLimiter, limits: SeatLimits, idempotency: Idempotency | None = None) -> Command:
    """Invite `email` as `role`: the row is written now, the token and email by the `team.invite` worker.

    Refusals happen here, synchronously: a bad email or role, an existing
    member, an admin inviting an owner, no seat left, the hourly limit. A
    pending invitation of the same email is revoked and replaced.
    """
    email = normalize_email(email)
    service.check_role(role)
    service.check_may_manage(actor, role)
    # An unverified account may not make us email strangers (issue 14, finding 5: phishing from our domain).
    await lifecycle.require_verified(session, actor.user_id)
    org = await service.lock_seats(session, actor.org_id)
    await limits.check_may_grow(session, actor.org_id)
    if await repository.is_member_email(session, actor.org_id, email):
        raise AlreadyMember(f"{email} is already a member of this organization")
    await service.check_seat_available(session, actor.org_id, limits=limits, replacing_email=email)
    verdict = await limiter.hit("invitations", str(actor.org_id), rules.per_hour, HOUR)
    if not verdict.allowed:
        raise TooManyInvitations(f"your organization may send {rules.per_hour} invitations per hour; "
                                 f"try again in {verdict.retry_after} s", retry_after=verdict.retry_after,
                                 details={"limit": rules.per_hour, "retry_after": verdict.retry_after},
                                 policy="invitations", limit=rules.per_hour, window=HOUR)
    now = utcnow()
    replaced = await repository.pending_for_email(session, actor.org_id, email)
    if replaced:
        await repository.revoke_invitations(session, [old.id for old in replaced], now)
        for old in replaced:
            await activity.record(session, actor.user_id, actor.org_id, "invitation.revoked", ip=actor.ip,
                                  subject_email=email, details={"invitation_id": str(old.id), "reason": "reinvited"})
        await session.flush()
    invitation = Invitation(id=uuid.uuid4(), org_id=actor.org_id, email=email, role=role, status=PENDING,
                            invited_by=actor.user_id, expires_at=now + timedelta(hours=rules.ttl_hours),
                            created_at=now)
    session.add(invitation)
    await session.flush()
    await activity.record(session, actor.user_id, actor.org_id, "invitation.sent", ip=actor.ip, subject_email=email,
                          details={"invitation_id": str(invitation.id), "role": role})
    inviter = await accounts_repository.get_user(session, actor.user_id)
    notifications.notify(session, actor.org_id, "team.invited", {
        "inviter_name": inviter.name, "email": email, "role": role, "organization_name": org.name})
    return await commands.submit(session, INVITE, org_id=actor.org_id, user_id=actor.user_id,
                                 payload={"invitation_id": str(invitation.id)}, idempotency=idempotency)


async def issue(session: AsyncSession, command: Command) -> dict[str, Any]:
    """The worker's side of `team.invite`: create the token, keep its hash, queue the email.

    Idempotent: a token is issued once per invitation (a second one would be
    emailed under the same dedupe key, i.e. not at all); an invitation
    revoked or replaced meanwhile gets no email.
    """
    invitation = await repository.get_invitation(session, uuid.UUID(command.payload["invitation_id"]),
                                                 for_update=True)
    if invitation is None or invitation.status != PENDING or invitation.expires_at <= utcnow():
        return {"invitation_id": command.payload["invitation_id"], "emailed": False,
                "reason": "the invitation was revoked, replaced or has expired"}
    if invitation.token_hash is not None:
        return {"invitation_id": str(invitation.id), "emailed": True}
    token = secrets.token_urlsafe(32)
    invitation.token_hash = token_hash(token)
    await session.flush()
    inviter = await accounts_repository.get_user(session, invitation.invited_by) if invitation.invited_by else None
    org = await repository.get_organization(session, invitation.org_id)
    mail.send_later(session, dedupe_key=f"invitation:{invitation.id}", to=invitation.email, template="invitation",
                    context={"inviter_name": inviter.name if inviter else "A colleague",
                             "organization_name": org.name, "accept_path": f"/invite?token={token}",
                             "expires_at": invitation.expires_at.isoformat()})
    return {"invitation_id": str(invitation.id), "emailed": True, "email": invitation.email,
            "expires_at": invitation.expires_at.isoformat()}


async def list_pending(session: AsyncSession, org_id: uuid.UUID) -> list[Invitation]:
    """Invitations still waiting for an answer (pending and not expired)."""
    return await repository.list_pending(session, org_id, utcnow())


async def revoke(session: AsyncSession, actor: Actor, invitation_id: uuid.UUID) -> None:
    invitation = await repository.get_invitation(session, invitation_id, for_update=True)
    if invitation is None or invitation.status != PENDING:
        raise InvitationNotFound("invitation not found")
    service.check_may_manage(actor, invitation.role)
    invitation.status, invitation.revoked_at = REVOKED, utcnow()
    await session.flush()
    await activity.record(session, actor.user_id, actor.org_id, "invitation.revoked", ip=actor.ip,
                          subject_email=invitation.email, details={"invitation_id": str(invitation.id)})


async def accept(session: AsyncSession, accounts: AccountService, *, token: str, name: str | None,
                 password: str | None, principal: Principal | None, ip: str | None) -> Tokens:
    """Join the invitation's organization and log in there.

    One transaction: the invitation row is locked first, so of two
    concurrent accepts one wins and the other finds it used. Unknown,
    expired, used and revoked tokens all get `InvitationInvalid`. An email
    that already has an account joins only with that account's bearer token
    (`principal`); `name` and `password` are then ignored.
    """
    found = await repository.invitation_by_token_hash(session, token_hash(token))
    if found is None:
        raise InvitationInvalid(INVALID)
    invitation_id, org_id = found
    await bind_tenant(session, org_id=org_id)
    invitation = await repository.get_invitation(session, invitation_id, for_update=True)
    if invitation is None or invitation.status != PENDING or invitation.expires_at <= utcnow():
        raise InvitationInvalid(INVALID)
    await bind_tenant(session, login_email=invitation.email)
    existing = await accounts_repository.user_by_email(session, invitation.email)
    if existing is not None:
        user = await _existing_account(session, accounts, existing, principal, org_id)
    else:
        user = await _new_account(session, accounts, invitation.email, name, password)
    await bind_tenant(session, org_id=org_id, user_id=user.id)
    session.add(Membership(org_id=org_id, user_id=user.id, role=invitation.role))
    invitation.status, invitation.accepted_at, invitation.accepted_by = ACCEPTED, utcnow(), user.id
    await session.flush()
    await activity.record(session, user.id, org_id, "invitation.accepted", ip=ip, subject_user_id=user.id,
                          subject_email=invitation.email,
                          details={"invitation_id": str(invitation.id), "role": invitation.role})
    org = await repository.get_organization(session, org_id)
    recipients = set(await repository.user_ids_with_roles(session, org_id, ("owner", "admin")))
    if invitation.invited_by is not None:
        recipients.add(invitation.invited_by)
    recipients.discard(user.id)
    notifications.notify(session, org_id, "team.joined", {
        "name": user.name, "organization_name": org.name, "role": invitation.role, "user_id": str(user.id)},
        recipients=sorted(recipients))
    mail.send_later(session, dedupe_key=f"welcome:{org_id}:{user.id}", to=user.email, template="welcome",
                    context={"name": user.name, "organization_name": org.name})
    return await accounts.start_session(session, user.id, org_id)


async def _existing_account(session: AsyncSession, accounts: AccountService, user: User,
                            principal: Principal | None, org_id: uuid.UUID) -> User:
    """The invited email has an account: only that account, logged in, may accept."""
    if principal is None or principal.user_id != user.id:
        raise LoginRequired("an account with the invited email exists: log in as that account, then accept "
                            "the invitation with its access token")
    # The bearer's own login must still be live; it may belong to no organization (removed from its last).
    await bind_tenant(session, user_id=principal.user_id)
    await accounts.require_live_session(session, principal)
    await bind_tenant(session, org_id=org_id)
    if await repository.member(session, org_id, user.id) is not None:
        raise AlreadyMember("you are already a member of this organization")
    return user


async def _new_account(session: AsyncSession, accounts: AccountService, email: str, name: str | None,
                       password: str | None) -> User:
    if not name or not name.strip():
        raise InvalidInput("name is required to create your account", details={"field": "name"})
    if password is None:
        raise InvalidInput("password is required to create your account", details={"field": "password"})
    password_hash = await accounts.hash_password(password)
    # The token came to this mailbox: following it proves the address.
    user = User(id=uuid.uuid4(), email=email, name=name.strip(), password_hash=password_hash,
                email_verified_at=utcnow())
    await bind_tenant(session, user_id=user.id)
    session.add(user)
    try:
        await session.flush()
    except IntegrityError as e:  # the same email signed up a moment ago
        raise LoginRequired("an account with the invited email exists: log in as that account, then accept "
                            "the invitation with its access token") from e
    return user
