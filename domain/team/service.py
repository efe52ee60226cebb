"""Team rules: members and roles, ownership, seats and the activity log.

Invitations live in `domain/team/invitations.py`. Who may call what is the
permission table's business (`domain/accounts/permissions.py`, checked by
the edge's tenant guard); the rules here are the ones a permission cannot
express: owners are managed by owners, an organization always keeps an
owner, seats are limited.
"""

from __future__ import annotations

import uuid

from sqlalchemy.ext.asyncio import AsyncSession

from domain.accounts import repository as accounts
from domain.activity import service as activity
from domain.accounts.permissions import ROLES, allows
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
from domain.accounts.models import Organization
from domain.team.limits import SeatLimits
from domain.team.models import Actor, TeamMember

OWNER = "owner"
MANAGE_OWNERS = "team.manage_owners"


async def lock_seats(session: AsyncSession, org_id: uuid.UUID) -> Organization:
    """Serialize seat-consuming changes of one organization until commit (a row lock on it); the organization."""
    return await repository.lock_seats(session, org_id)


async def seats_used(session: AsyncSession, org_id: uuid.UUID, *, except_email: str | None = None) -> int:
    """The seats taken: members plus live (pending, unexpired) invitations, but `except_email`'s invitation."""
    return (await repository.count_members(session, org_id)
            + await repository.count_pending(session, org_id, utcnow(), except_email=except_email))


async def check_seat_available(session: AsyncSession, org_id: uuid.UUID, *, limits: SeatLimits,
                               replacing_email: str | None = None) -> None:
    """One more seat must fit the plan's (`limits`); an invitation replaced by a re-invite frees its seat."""
    limit = await limits.seat_limit(session, org_id)
    used = await seats_used(session, org_id, except_email=replacing_email)
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
    await activity.record(session, actor.user_id, actor.org_id, "member.role_changed", ip=actor.ip,
                          subject_user_id=user_id, subject_email=target.email, details={"from": target.role, "to": role})
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
    await activity.record(session, actor.user_id, actor.org_id, "member.removed", ip=actor.ip,
                          subject_user_id=user_id, subject_email=target.email, details={"role": target.role})


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
    await activity.record(session, actor.user_id, actor.org_id, "ownership.transferred", ip=actor.ip,
                          subject_user_id=user_id, subject_email=target.email,
                          details={"from_role": target.role, "previous_owner": str(actor.user_id)})
    await _notify_role_changed(session, actor, [user_id], OWNER)
    return [await _target(session, actor, user_id), await _target(session, actor, actor.user_id)]

