"""Accounts: sign-up, login, refresh, logout, me; verifying the address, resetting and changing the password,
changing the address (domain/accounts/lifecycle.py)."""

from __future__ import annotations

import uuid
from typing import Annotated

import msgspec
from litestar import Request, Router, get, post
from litestar.status_codes import HTTP_200_OK, HTTP_201_CREATED, HTTP_202_ACCEPTED, HTTP_204_NO_CONTENT

from domain.accounts import lifecycle
from domain.accounts.devices import SignInClient
from domain.accounts.service import AccountService, Tokens
from domain.db import Database
from domain.accounts.errors import (AccountTokenInvalid, EmailTaken, InvalidCredentials, InvalidToken,
                                    RefreshTokenReused, TooManyAttempts, WeakPassword, WrongPassword)
from domain.errors import InvalidInput, NotFound
from domain.ratelimit import RateLimiter
from edge.auth import Tenant
from edge.client_ip import client_ip
from edge.ratelimits import rate_limited
from edge.schemas import Body, Described, Email, Name, Password, Token


class SignupBody(Body):
    email: Email
    password: Password
    name: Name
    organization_name: Name


class LoginBody(Body):
    email: Email
    password: Password
    organization_id: Annotated[uuid.UUID | None, Described(
        "Which of the person's organizations to log in to; their first one when absent.")] = None


class RefreshBody(Body):
    refresh_token: Token


class TokensOut(msgspec.Struct):
    access_token: str
    refresh_token: str
    token_type: Annotated[str, Described('Always "bearer": send `Authorization: Bearer <access_token>`.')]
    expires_in: Annotated[int, Described("Seconds the access token stays valid; then use `/v1/auth/refresh`.")]
    user_id: uuid.UUID
    organization_id: Annotated[uuid.UUID | None, Described(
        "None when the person belongs to no organization: create one (POST /v1/organizations) or accept an "
        "invitation with this token.")]


class MeOut(msgspec.Struct):
    id: uuid.UUID
    email: str
    name: str
    role: str
    organization: dict
    email_verified: Annotated[bool, Described(
        "False until the link emailed at sign-up is followed; until then invitations are refused.")]


class OrganizationBody(Body):
    name: Name


class LinkBody(Body):
    token: Annotated[Token, Described("The `token` parameter of the emailed link.")]


class EmailBody(Body):
    email: Email


class ResetConfirmBody(Body):
    token: Annotated[Token, Described("The `token` parameter of the emailed reset link.")]
    password: Annotated[Password, Described("The new password.")]


class PasswordChangeBody(Body):
    current_password: Password
    new_password: Password


class EmailChangeBody(Body):
    email: Annotated[Email, Described("The new address; it becomes the account's once its emailed link is followed.")]
    password: Annotated[Password, Described("The current password.")]


class VerifiedOut(msgspec.Struct):
    user_id: uuid.UUID
    email: str
    email_verified: bool


class SentOut(msgspec.Struct):
    status: Annotated[str, Described('Always "sent": the same answer whether or not an account has the address.')]


def tokens_out(tokens: Tokens) -> TokensOut:
    return TokensOut(access_token=tokens.access_token, refresh_token=tokens.refresh_token,
                     token_type=tokens.token_type, expires_in=tokens.expires_in, user_id=tokens.user_id,
                     organization_id=tokens.org_id)


def sign_in_client(request: Request) -> SignInClient:
    # Through the trusted proxies only (edge/client_ip.py): X-Forwarded-For from anyone else is ignored.
    return SignInClient(ip=client_ip(request), user_agent=request.headers.get("user-agent"))


@post("/signup", status_code=HTTP_201_CREATED, summary="Create an organization and its owner",
      raises=[EmailTaken, WeakPassword, InvalidInput], opt=rate_limited("signup"))
async def signup(request: Request, db: Database, accounts: AccountService, data: SignupBody) -> TokensOut:
    async with db.transaction() as session:
        tokens = await accounts.signup(session, email=data.email, password=data.password, name=data.name,
                                       organization_name=data.organization_name, client=sign_in_client(request))
    return tokens_out(tokens)


@post("/login", status_code=HTTP_200_OK, summary="Log in with email and password",
      raises=[InvalidCredentials, InvalidInput, TooManyAttempts], opt=rate_limited("login"))
async def login(request: Request, db: Database, accounts: AccountService, rate_limiter: RateLimiter,
                data: LoginBody) -> TokensOut:
    async with db.transaction() as session:
        tokens = await accounts.login(session, rate_limiter, email=data.email, password=data.password,
                                      organization_id=data.organization_id, client=sign_in_client(request))
    return tokens_out(tokens)


@post("/refresh", status_code=HTTP_200_OK, summary="Rotate a refresh token",
      raises=[InvalidToken, RefreshTokenReused], opt=rate_limited("refresh"))
async def refresh(request: Request, db: Database, accounts: AccountService, data: RefreshBody) -> TokensOut:
    async with db.transaction() as session:
        tokens = await accounts.refresh(session, data.refresh_token, sign_in_client(request))
    return tokens_out(tokens)


@post("/logout", status_code=HTTP_204_NO_CONTENT, summary="End this login everywhere")
async def logout(tenant: Tenant) -> None:
    async with tenant.person() as (session, principal):
        await tenant.accounts.logout(session, principal)


@get("/me", summary="The caller, their role and organization", raises=[NotFound])
async def me(tenant: Tenant) -> MeOut:
    async with tenant("org.read") as (session, member):
        accounts: AccountService = tenant.accounts
        user, org = await accounts.profile(session, member)
    return MeOut(id=user.id, email=user.email, name=user.name, role=member.role,
                 organization={"id": str(org.id), "name": org.name}, email_verified=user.email_verified_at is not None)


@post("/verify-email", status_code=HTTP_200_OK, summary="Verify an address with the emailed link's token",
      raises=[AccountTokenInvalid, EmailTaken, NotFound], opt=rate_limited("account_links"))
async def verify_email(db: Database, accounts: AccountService, data: LinkBody) -> VerifiedOut:
    async with db.transaction() as session:
        user = await lifecycle.verify_email(session, accounts, data.token)
    return VerifiedOut(user_id=user.id, email=user.email, email_verified=True)


@post("/verify-email/resend", status_code=HTTP_202_ACCEPTED, summary="Email the verification link again",
      raises=[NotFound])
async def resend_verification(tenant: Tenant) -> SentOut:
    async with tenant.person() as (session, principal):
        await lifecycle.resend_verification(session, tenant.accounts, principal)
    return SentOut(status="sent")


@post("/not-me", status_code=HTTP_204_NO_CONTENT,
      summary="\"This wasn't me\": the new-sign-in email's link; every session of the account ends",
      raises=[AccountTokenInvalid, NotFound], opt=rate_limited("account_links"))
async def not_me(db: Database, accounts: AccountService, data: LinkBody) -> None:
    async with db.transaction() as session:
        await lifecycle.not_me(session, accounts, data.token)


@post("/password-reset", status_code=HTTP_202_ACCEPTED, summary="Email a password reset link",
      description="The same 202 whether or not an account has the address; at most a few emails per address "
                  "per hour.", raises=[InvalidInput], opt=rate_limited("password_reset"))
async def password_reset(db: Database, accounts: AccountService, rate_limiter: RateLimiter,
                         data: EmailBody) -> SentOut:
    async with db.transaction() as session:
        await lifecycle.request_password_reset(session, accounts, rate_limiter, data.email)
    return SentOut(status="sent")


@post("/password-reset/confirm", status_code=HTTP_204_NO_CONTENT,
      summary="Set a new password with the emailed reset link's token; every session ends",
      raises=[AccountTokenInvalid, WeakPassword, NotFound], opt=rate_limited("account_links"))
async def password_reset_confirm(db: Database, accounts: AccountService, data: ResetConfirmBody) -> None:
    async with db.transaction() as session:
        await lifecycle.confirm_password_reset(session, accounts, data.token, data.password)


@post("/me/password", status_code=HTTP_204_NO_CONTENT,
      summary="Change the password (the current one required); every other session ends",
      raises=[WrongPassword, WeakPassword, NotFound])
async def change_password(tenant: Tenant, data: PasswordChangeBody) -> None:
    async with tenant.person() as (session, principal):
        await lifecycle.change_password(session, tenant.accounts, principal, current=data.current_password,
                                        new=data.new_password)


@post("/me/email", status_code=HTTP_202_ACCEPTED,
      summary="Change the address: a link is emailed to the new one, which takes effect when followed",
      raises=[WrongPassword, EmailTaken, InvalidInput, NotFound])
async def change_email(tenant: Tenant, data: EmailChangeBody) -> SentOut:
    async with tenant.person() as (session, principal):
        await lifecycle.change_email(session, tenant.accounts, principal, email=data.email,
                                     password=data.password)
    return SentOut(status="sent")


@post("/organizations", status_code=HTTP_201_CREATED,
      summary="Create an organization owned by the caller; answers a session in it", raises=[InvalidInput])
async def create_organization(tenant: Tenant, data: OrganizationBody) -> TokensOut:
    async with tenant.person() as (session, principal):
        tokens = await tenant.accounts.create_organization(session, principal, data.name)
    return tokens_out(tokens)


auth_router = Router("/v1/auth", route_handlers=[signup, login, refresh, logout, verify_email, resend_verification,
                                                 not_me, password_reset, password_reset_confirm], tags=["auth"])
me_router = Router("/v1", route_handlers=[me, change_password, change_email, create_organization], tags=["auth"])
