"""Team rules: members and roles, ownership, seats and the activity log.

Invitations live in `domain/team/invitations.py`. Who may call what is the
permission table's business (`domain/accounts/permissions.py`, checked by
the edge's tenant guard); the rules here are the ones a permission cannot
express: owners are managed by owners, an organization always keeps an
owner, seats are limited.
"""

from __future__ import annotations

import uuid
from typing import Any

from sqlalchemy.ext.asyncio import AsyncSession

from domain import pagination
from domain.accounts import repository as accounts
from domain.accounts.permissions import ROLES, allows
from domain.billing import entitlements
from domain.errors import InvalidInput
from domain.models import utcnow
from domain.notifications import service as notifications
from domain.team import repository
from domain.team.errors import (
    CannotTargetSelf,
    LastOwner,
    MemberNotFound,
    OwnersOnly,
    SeatLimitReached,
)
from domain.team.models import ACTIONS, ActivityLog, Actor, TeamMember

OWNER = "owner"
MANAGE_OWNERS = "team.manage_owners"


async def seat_limit(session: AsyncSession, org_id: uuid.UUID, *, free_plan_seats: int) -> int:
    """How many seats the organization's plan has: billing's answer (FREE_PLAN_SEATS on the free plan)."""
    return await entitlements.seat_limit(session, org_id, free_plan_seats=free_plan_seats)


async def check_seat_available(session: AsyncSession, org_id: uuid.UUID, *, limit: int,
                               replacing_email: str | None = None) -> None:
    """Members plus live (pending, unexpired) invitations are seats; one more must fit.

    An invitation being replaced by a re-invite of the same email frees its seat.
    """
    used = (await repository.count_members(session, org_id)
            + await repository.count_pending(session, org_id, utcnow(), except_email=replacing_email))
    if used >= limit:
        raise SeatLimitReached(f"your plan has {limit} seats and all are taken (members and pending invitations); "
                               "upgrade the plan or revoke an invitation",
                               details={"limit": limit, "used": used})


def check_may_manage(actor: Actor, *roles: str) -> None:
    """Granting, changing or removing the owner role takes an owner (an admin cannot make or unmake owners)."""
    if OWNER in roles and not allows(actor.role, MANAGE_OWNERS):
        raise OwnersOnly("only an owner can grant the owner role or change, remove or un-invite an owner",
                         details={"permission": MANAGE_OWNERS, "role": actor.role})


def check_role(role: str) -> str:
    if role not in ROLES:
        raise InvalidInput(f"unknown role {role!r}", details={"field": "role", "known": list(ROLES)})
    return role


async def log(session: AsyncSession, actor_id: uuid.UUID | None, org_id: uuid.UUID, action: str, *,
              ip: str | None, subject_user_id: uuid.UUID | None = None, subject_email: str | None = None,
              details: dict[str, Any] | None = None) -> None:
    """Record one team change in the activity log, in the change's own transaction."""
    assert action in ACTIONS, action
    await repository.add_activity(session, {
        "id": uuid.uuid4(), "org_id": org_id, "actor_user_id": actor_id, "action": action,
        "subject_user_id": subject_user_id, "subject_email": subject_email, "details": details or {}, "ip": ip,
        "created_at": utcnow()})


async def list_members(session: AsyncSession, org_id: uuid.UUID) -> list[TeamMember]:
    return await repository.members(session, org_id)


async def _target(session: AsyncSession, actor: Actor, user_id: uuid.UUID) -> TeamMember:
    member = await repository.member(session, actor.org_id, user_id)
    if member is None:
        raise MemberNotFound("member not found")
    return member


async def _check_not_last_owner(session: AsyncSession, org_id: uuid.UUID, user_id: uuid.UUID) -> None:
    owners = await repository.owner_ids_for_update(session, org_id)
    if owners == [user_id]:
        raise LastOwner("an organization needs an owner: make someone else owner first "
                        "(POST /v1/team/ownership transfers it)")


async def change_role(session: AsyncSession, actor: Actor, user_id: uuid.UUID, role: str) -> TeamMember:
    """Give a member another role; they are notified. The last owner cannot be demoted."""
    check_role(role)
    target = await _target(session, actor, user_id)
    check_may_manage(actor, target.role, role)
    if target.role == role:
        return target
    if target.role == OWNER:
        await _check_not_last_owner(session, actor.org_id, user_id)
    membership = (await repository.memberships_for_update(session, actor.org_id, [user_id]))[user_id]
    membership.role = role
    await session.flush()
    await log(session, actor.user_id, actor.org_id, "member.role_changed", ip=actor.ip, subject_user_id=user_id,
              subject_email=target.email, details={"from": target.role, "to": role})
    await _notify_role_changed(session, actor, [user_id], role)
    return TeamMember(target.user_id, target.email, target.name, role, target.joined_at)


async def _notify_role_changed(session: AsyncSession, actor: Actor, user_ids: list[uuid.UUID], role: str) -> None:
    changer = await accounts.get_user(session, actor.user_id)
    org = await repository.get_organization(session, actor.org_id)
    notifications.notify(session, actor.org_id, "team.role_changed", {
        "role": role, "changed_by": changer.name if changer else "", "organization_name": org.name if org else ""},
        recipients=user_ids)


async def remove_member(session: AsyncSession, actor: Actor, user_id: uuid.UUID) -> None:
    """Remove a member: their sessions are revoked in this transaction, and
    their access tokens stop working on the next request (every request
    re-checks the membership). The last owner cannot be removed."""
    target = await _target(session, actor, user_id)
    check_may_manage(actor, target.role)
    if target.role == OWNER:
        await _check_not_last_owner(session, actor.org_id, user_id)
    await accounts.revoke_user_sessions(session, actor.org_id, user_id)
    await repository.delete_membership(session, actor.org_id, user_id)
    await log(session, actor.user_id, actor.org_id, "member.removed", ip=actor.ip, subject_user_id=user_id,
              subject_email=target.email, details={"role": target.role})


async def transfer_ownership(session: AsyncSession, actor: Actor, user_id: uuid.UUID) -> list[TeamMember]:
    """The target becomes an owner and the caller, an owner, becomes an admin."""
    if user_id == actor.user_id:
        raise CannotTargetSelf("you already own this organization; name the member who should")
    target = await _target(session, actor, user_id)
    locked = await repository.memberships_for_update(session, actor.org_id, [actor.user_id, user_id])
    caller = locked[actor.user_id]
    check_may_manage(actor, OWNER)
    locked[user_id].role = OWNER
    caller.role = "admin"
    await session.flush()
    await log(session, actor.user_id, actor.org_id, "ownership.transferred", ip=actor.ip, subject_user_id=user_id,
              subject_email=target.email, details={"from_role": target.role, "previous_owner": str(actor.user_id)})
    await _notify_role_changed(session, actor, [user_id], OWNER)
    return [await _target(session, actor, user_id), await _target(session, actor, actor.user_id)]


async def activity(session: AsyncSession, org_id: uuid.UUID, *, actor: uuid.UUID | None, action: str | None,
                   cursor: str | None, limit: int) -> pagination.Page[ActivityLog]:
    """The team's activity, newest first, optionally by one actor or one action."""
    if action is not None and action not in ACTIONS:
        raise InvalidInput(f"unknown action {action!r}", details={"field": "action", "known": list(ACTIONS)})
    return await repository.activity(session, org_id, actor=actor, action=action, cursor=cursor, limit=limit)
