"""Team: invitations, members, roles, ownership and the activity log; accepting an invitation (public)."""

from __future__ import annotations

import uuid
from datetime import datetime
from typing import Annotated, Any, Literal

import msgspec
from litestar import Request, Response, Router, delete, get, patch, post
from litestar.params import Parameter
from litestar.status_codes import HTTP_200_OK, HTTP_201_CREATED, HTTP_204_NO_CONTENT

from domain.activity import service as activity_log
from domain.accounts.service import AccountService
from domain.billing.limits import PlanLimits
from domain.db import Database
from domain.ratelimit import RateLimiter
from domain.team import invitations
from domain.team.invitations import InvitationRules
from domain.team import service as team
from domain.team.models import Actor
from domain.accounts.errors import EmailNotVerified, InvalidToken, WeakPassword
from domain.billing.errors import OrganizationRestricted
from domain.commands.errors import IdempotencyKeyReused
from domain.errors import InvalidInput
from domain.team.errors import (AlreadyMember, CannotTargetSelf, InvitationInvalid, InvitationNotFound, LastOwner,
                                LoginRequired, MemberNotFound, OwnersOnly, SeatLimitReached, TooManyInvitations)
from edge.auth import Tenant, bearer_token
from edge.client_ip import client_ip
from edge.ratelimits import rate_limited
from edge.routes.auth import TokensOut, tokens_out
from edge.routes.commands import Accepted, IdempotencyKey, accept_command
from edge.schemas import NO_NUL, Body, Clean, Cursor, Email, Limit, Name, Password, out

ActivityAction = Annotated[str | None, Parameter(pattern=NO_NUL, max_length=100,
                                                description="Only entries of this action, e.g. `member.joined`.")]
Role = Literal["owner", "admin", "member", "viewer"]
Token = Annotated[str, Clean, msgspec.Meta(min_length=1, max_length=200)]


class InvitationCreate(Body):
    email: Email
    role: Role


class InvitationOut(msgspec.Struct):
    id: uuid.UUID
    email: str
    role: str
    status: str
    invited_by: uuid.UUID | None
    expires_at: datetime
    created_at: datetime


class InvitationList(msgspec.Struct):
    items: list[InvitationOut]


class AcceptBody(Body):
    token: Token
    name: Name | None = None
    password: Password | None = None


class MemberOut(msgspec.Struct):
    user_id: uuid.UUID
    email: str
    name: str
    role: str
    joined_at: datetime


class MemberList(msgspec.Struct):
    items: list[MemberOut]


class RoleChange(Body):
    role: Role


class OwnershipTransfer(Body):
    user_id: uuid.UUID


class ActivityOut(msgspec.Struct):
    id: uuid.UUID
    action: str
    actor_user_id: uuid.UUID | None
    subject_user_id: uuid.UUID | None
    subject_email: str | None
    details: dict[str, Any]
    ip: str | None
    created_at: datetime


class ActivityPage(msgspec.Struct):
    items: list[ActivityOut]
    next_cursor: str | None


def _actor(request: Request, member) -> Actor:
    return Actor(member.principal.user_id, member.principal.org_id, member.role, client_ip(request))


@post("/invitations", status_code=202, summary="Invite someone by email (a command: the worker emails the link)",
      raises=[InvalidInput, OwnersOnly, OrganizationRestricted, SeatLimitReached, AlreadyMember, IdempotencyKeyReused,
              TooManyInvitations, EmailNotVerified])
async def invite(request: Request, tenant: Tenant, invitation_rules: InvitationRules, rate_limiter: RateLimiter,
                 plan_limits: PlanLimits, data: InvitationCreate,
                 idempotency_key: IdempotencyKey = None) -> Response[Accepted]:
    async def submit(session, member, idempotency):
        return await invitations.invite(session, _actor(request, member), email=data.email, role=data.role,
                                        rules=invitation_rules, limiter=rate_limiter, limits=plan_limits,
                                        idempotency=idempotency)
    return await accept_command(request, tenant, "team.invite", idempotency_key, data, submit)


@get("/invitations", summary="Pending invitations (never their tokens)")
async def list_invitations(tenant: Tenant) -> InvitationList:
    async with tenant("team.read") as (session, member):
        pending = await invitations.list_pending(session, member.principal.org_id)
    return InvitationList([out(i, InvitationOut) for i in pending])


@delete("/invitations/{invitation_id:uuid}", status_code=HTTP_204_NO_CONTENT, summary="Revoke a pending invitation",
        raises=[InvitationNotFound, OwnersOnly])
async def revoke_invitation(request: Request, tenant: Tenant, invitation_id: uuid.UUID) -> None:
    async with tenant("team.invite") as (session, member):
        await invitations.revoke(session, _actor(request, member), invitation_id)


@get("/members", summary="The organization's members and their roles")
async def list_members(tenant: Tenant) -> MemberList:
    async with tenant("team.read") as (session, member):
        members = await team.list_members(session, member.principal.org_id)
    return MemberList([out(m, MemberOut) for m in members])


@patch("/members/{user_id:uuid}", summary="Change a member's role (they are notified)",
       raises=[MemberNotFound, OwnersOnly, LastOwner, CannotTargetSelf])
async def change_role(request: Request, tenant: Tenant, user_id: uuid.UUID, data: RoleChange) -> MemberOut:
    async with tenant("team.change_roles") as (session, member):
        changed = await team.change_role(session, _actor(request, member), user_id, data.role)
    return out(changed, MemberOut)


@delete("/members/{user_id:uuid}", status_code=HTTP_204_NO_CONTENT,
        summary="Remove a member; their sessions end at once",
        raises=[MemberNotFound, OwnersOnly, LastOwner, CannotTargetSelf])
async def remove_member(request: Request, tenant: Tenant, user_id: uuid.UUID) -> None:
    async with tenant("team.remove") as (session, member):
        await team.remove_member(session, _actor(request, member), user_id)


@post("/ownership", status_code=HTTP_200_OK,
      summary="Transfer ownership: the member becomes owner, the caller becomes admin",
      raises=[MemberNotFound, CannotTargetSelf])
async def transfer_ownership(request: Request, tenant: Tenant, data: OwnershipTransfer) -> MemberList:
    async with tenant("team.transfer_ownership") as (session, member):
        changed = await team.transfer_ownership(session, _actor(request, member), data.user_id)
    return MemberList([out(m, MemberOut) for m in changed])


@get("/activity", summary="The team's activity log, newest first", raises=[InvalidInput])
async def activity(tenant: Tenant, cursor: Cursor = None, actor: uuid.UUID | None = None,
                   action: ActivityAction = None, limit: Limit = 50) -> ActivityPage:
    async with tenant("team.read_activity") as (session, member):
        page = await activity_log.entries(session, member.principal.org_id, actor=actor, action=action,
                                          cursor=cursor, limit=limit)
    return out(page, ActivityPage)


@post("/accept", status_code=HTTP_201_CREATED,
      summary="Accept an invitation (public; an existing account sends its bearer token)",
      raises=[InvalidToken, InvitationInvalid, LoginRequired, AlreadyMember, InvalidInput, WeakPassword],
      opt=rate_limited("invitation_accept"))
async def accept(request: Request, db: Database, accounts: AccountService, data: AcceptBody) -> TokensOut:
    principal = None
    if request.headers.get("authorization"):
        principal = accounts.issuer.verify_access(bearer_token(request))
    async with db.transaction() as session:
        tokens = await invitations.accept(
            session, accounts, token=data.token, name=data.name, password=data.password, principal=principal,
            ip=client_ip(request))
    return tokens_out(tokens)


team_router = Router("/v1/team", tags=["team"], route_handlers=[
    invite, list_invitations, revoke_invitation, list_members, change_role, remove_member, transfer_ownership,
    activity])
invitations_router = Router("/v1/invitations", tags=["team"], route_handlers=[accept])
