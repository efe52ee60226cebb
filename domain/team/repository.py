"""All SQL of the team capability. Row-level security confines every
statement to the transaction's organization; the org filters below match
the indexes. The one exception is `invitation_by_token_hash`, see there."""

from __future__ import annotations

import uuid
from datetime import datetime

from sqlalchemy import delete, func, select, text, update
from sqlalchemy.ext.asyncio import AsyncSession

from domain.accounts.models import Membership, Organization, User
from domain.team.models import PENDING, REVOKED, Invitation, TeamMember


async def lock_seats(session: AsyncSession, org_id: uuid.UUID) -> Organization | None:
    """Serialize seat-consuming changes of one organization (two invitations racing for the last seat)."""
    query = select(Organization).where(Organization.id == org_id).with_for_update()
    return (await session.execute(query)).scalar_one_or_none()


async def get_organization(session: AsyncSession, org_id: uuid.UUID) -> Organization | None:
    return await session.get(Organization, org_id)


async def is_member_email(session: AsyncSession, org_id: uuid.UUID, email: str) -> bool:
    query = (select(Membership.user_id).join(User, User.id == Membership.user_id)
             .where(Membership.org_id == org_id, User.email == email))
    return (await session.execute(query)).first() is not None


async def count_members(session: AsyncSession, org_id: uuid.UUID) -> int:
    query = select(func.count()).select_from(Membership).where(Membership.org_id == org_id)
    return (await session.execute(query)).scalar_one()


async def count_pending(session: AsyncSession, org_id: uuid.UUID, now: datetime, *, except_email: str | None) -> int:
    query = (select(func.count()).select_from(Invitation)
             .where(Invitation.org_id == org_id, Invitation.status == PENDING, Invitation.expires_at > now))
    if except_email is not None:
        query = query.where(Invitation.email != except_email)
    return (await session.execute(query)).scalar_one()


async def pending_for_email(session: AsyncSession, org_id: uuid.UUID, email: str) -> list[Invitation]:
    query = (select(Invitation).where(Invitation.org_id == org_id, Invitation.email == email,
                                      Invitation.status == PENDING).with_for_update())
    return list((await session.execute(query)).scalars())


async def get_invitation(session: AsyncSession, invitation_id: uuid.UUID, *,
                         for_update: bool = False) -> Invitation | None:
    query = select(Invitation).where(Invitation.id == invitation_id)
    if for_update:
        query = query.with_for_update()
    return (await session.execute(query)).scalar_one_or_none()


async def list_pending(session: AsyncSession, org_id: uuid.UUID, now: datetime) -> list[Invitation]:
    query = (select(Invitation).where(Invitation.org_id == org_id, Invitation.status == PENDING,
                                      Invitation.expires_at > now)
             .order_by(Invitation.created_at.desc(), Invitation.id.desc()))
    return list((await session.execute(query)).scalars())


async def revoke_invitations(session: AsyncSession, invitation_ids: list[uuid.UUID], when: datetime) -> None:
    await session.execute(update(Invitation).where(Invitation.id.in_(invitation_ids), Invitation.status == PENDING)
                          .values(status=REVOKED, revoked_at=when))


async def invitation_by_token_hash(session: AsyncSession, token_hash: str) -> tuple[uuid.UUID, uuid.UUID] | None:
    """Find an invitation by its token before the organization is known.

    The transaction presents the hash in `app.invitation_token_hash`; the
    `token_lookup` policy (migration 0004) then shows that one row, in any
    organization. Locking and writing it still need the organization's tenant.
    Returns (invitation id, org id).
    """
    await session.execute(text("select set_config('app.invitation_token_hash', :h, true)"), {"h": token_hash})
    query = select(Invitation.id, Invitation.org_id).where(Invitation.token_hash == token_hash)
    row = (await session.execute(query)).first()
    return (row.id, row.org_id) if row else None


async def members(session: AsyncSession, org_id: uuid.UUID) -> list[TeamMember]:
    query = (select(User.id, User.email, User.name, Membership.role, Membership.created_at)
             .join(Membership, Membership.user_id == User.id)
             .where(Membership.org_id == org_id).order_by(Membership.created_at, User.id))
    return [TeamMember(*row) for row in (await session.execute(query)).all()]


async def member(session: AsyncSession, org_id: uuid.UUID, user_id: uuid.UUID) -> TeamMember | None:
    query = (select(User.id, User.email, User.name, Membership.role, Membership.created_at)
             .join(Membership, Membership.user_id == User.id)
             .where(Membership.org_id == org_id, Membership.user_id == user_id))
    row = (await session.execute(query)).first()
    return TeamMember(*row) if row else None


async def memberships_for_update(session: AsyncSession, org_id: uuid.UUID,
                                 user_ids: list[uuid.UUID]) -> dict[uuid.UUID, Membership]:
    """Lock the named memberships, in id order (two changes never wait on each other crosswise)."""
    query = (select(Membership).where(Membership.org_id == org_id, Membership.user_id.in_(user_ids))
             .order_by(Membership.user_id).with_for_update())
    return {m.user_id: m for m in (await session.execute(query)).scalars()}


async def owner_ids_for_update(session: AsyncSession, org_id: uuid.UUID) -> list[uuid.UUID]:
    """Every owner, locked: "is this the last owner?" must not race a concurrent demotion."""
    query = (select(Membership.user_id).where(Membership.org_id == org_id, Membership.role == "owner")
             .order_by(Membership.user_id).with_for_update())
    return list((await session.execute(query)).scalars())


async def user_ids_with_roles(session: AsyncSession, org_id: uuid.UUID, roles: tuple[str, ...]) -> list[uuid.UUID]:
    query = select(Membership.user_id).where(Membership.org_id == org_id, Membership.role.in_(roles))
    return list((await session.execute(query)).scalars())


async def delete_membership(session: AsyncSession, org_id: uuid.UUID, user_id: uuid.UUID) -> bool:
    result = await session.execute(delete(Membership).where(Membership.org_id == org_id,
                                                            Membership.user_id == user_id))
    return result.rowcount > 0

