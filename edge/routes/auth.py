"""Accounts: sign-up, login, refresh, logout, me."""

from __future__ import annotations

import uuid
from typing import Annotated

import msgspec
from litestar import Router, get, post
from litestar.status_codes import HTTP_200_OK, HTTP_201_CREATED, HTTP_204_NO_CONTENT

from domain.accounts.service import AccountService, Tokens
from domain.db import Database
from domain.accounts.errors import (EmailTaken, InvalidCredentials, InvalidToken, RefreshTokenReused, TooManyAttempts,
                                    WeakPassword)
from domain.errors import InvalidInput, NotFound
from domain.ratelimit import RateLimiter
from edge.auth import Tenant
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
    organization_id: uuid.UUID


class MeOut(msgspec.Struct):
    id: uuid.UUID
    email: str
    name: str
    role: str
    organization: dict


def tokens_out(tokens: Tokens) -> TokensOut:
    return TokensOut(access_token=tokens.access_token, refresh_token=tokens.refresh_token,
                     token_type=tokens.token_type, expires_in=tokens.expires_in, user_id=tokens.user_id,
                     organization_id=tokens.org_id)


@post("/signup", status_code=HTTP_201_CREATED, summary="Create an organization and its owner",
      raises=[EmailTaken, WeakPassword, InvalidInput])
async def signup(db: Database, accounts: AccountService, data: SignupBody) -> TokensOut:
    async with db.transaction() as session:
        tokens = await accounts.signup(session, email=data.email, password=data.password, name=data.name,
                                       organization_name=data.organization_name)
    return tokens_out(tokens)


@post("/login", status_code=HTTP_200_OK, summary="Log in with email and password",
      raises=[InvalidCredentials, InvalidInput, TooManyAttempts])
async def login(db: Database, accounts: AccountService, rate_limiter: RateLimiter, data: LoginBody) -> TokensOut:
    async with db.transaction() as session:
        tokens = await accounts.login(session, rate_limiter, email=data.email, password=data.password,
                                      organization_id=data.organization_id)
    return tokens_out(tokens)


@post("/refresh", status_code=HTTP_200_OK, summary="Rotate a refresh token",
      raises=[InvalidToken, RefreshTokenReused])
async def refresh(db: Database, accounts: AccountService, data: RefreshBody) -> TokensOut:
    async with db.transaction() as session:
        tokens = await accounts.refresh(session, data.refresh_token)
    return tokens_out(tokens)


@post("/logout", status_code=HTTP_204_NO_CONTENT, summary="End this login everywhere")
async def logout(tenant: Tenant) -> None:
    async with tenant(None) as (session, member):
        await tenant.accounts.logout(session, member.principal)


@get("/me", summary="The caller, their role and organization", raises=[NotFound])
async def me(tenant: Tenant) -> MeOut:
    async with tenant("org.read") as (session, member):
        accounts: AccountService = tenant.accounts
        user, org = await accounts.profile(session, member)
    return MeOut(id=user.id, email=user.email, name=user.name, role=member.role,
                 organization={"id": str(org.id), "name": org.name})


auth_router = Router("/v1/auth", route_handlers=[signup, login, refresh, logout], tags=["auth"])
me_router = Router("/v1", route_handlers=[me], tags=["auth"])
