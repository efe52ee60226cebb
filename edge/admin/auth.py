"""Admin sign-in: password → `mfa_token` → code → admin tokens; refresh; the caller's sessions."""

from __future__ import annotations

import uuid
from datetime import datetime
from typing import Annotated

import msgspec
from litestar import Request, Router, delete, get, post
from litestar.status_codes import HTTP_200_OK, HTTP_204_NO_CONTENT

from domain.admin.errors import (AdminInvalidCredentials, AdminRefreshReused, AdminSessionEnded,
                                 AdminSessionNotFound, AdminTokenInvalid, InvalidMfaCode, NetworkNotAllowed,
                                 TooManyAttempts)
from domain.admin.service import AdminService
from domain.db import Database
from domain.ratelimit import RateLimiter
from edge.admin.guard import AdminCaller, audit, audited, check_network, client_ip
from edge.schemas import Body, Clean, Described, Email, Password, Token
from objecta.settings import Settings

Code = Annotated[str, Clean, msgspec.Meta(min_length=1, max_length=64, description=(
    "The 6-digit code of the authenticator app, or one of the recovery codes (each works once)."))]


class AdminLogin(Body):
    email: Email
    password: Password


class MfaChallengeOut(msgspec.Struct):
    mfa_token: Annotated[str, Described("Good only for `POST /admin/v1/auth/mfa`, for `expires_in` seconds.")]
    expires_in: int


class MfaBody(Body):
    mfa_token: Token
    code: Code


class AdminRefreshBody(Body):
    refresh_token: Token


class AdminTokensOut(msgspec.Struct):
    access_token: str
    refresh_token: str
    token_type: Annotated[str, Described('Always "bearer" (the `adminBearer` scheme).')]
    expires_in: int
    admin_id: uuid.UUID
    role: str


class SessionOut(msgspec.Struct):
    id: uuid.UUID
    ip: str | None
    user_agent: str | None
    created_at: datetime
    last_used_at: datetime
    expires_at: datetime
    current: bool


class SessionList(msgspec.Struct):
    items: list[SessionOut]


def _tokens(tokens) -> AdminTokensOut:
    return AdminTokensOut(tokens.access_token, tokens.refresh_token, tokens.token_type, tokens.expires_in,
                          tokens.admin_id, tokens.role)


@post("/login", status_code=HTTP_200_OK, summary="Admin sign-in, step one: email and password",
      raises=[AdminInvalidCredentials, TooManyAttempts, NetworkNotAllowed])
async def login(request: Request, db: Database, admin_service: AdminService, rate_limiter: RateLimiter,
                settings: Settings, data: AdminLogin) -> MfaChallengeOut:
    check_network(request, settings)
    async with audited(db, request, "admin.login", admin_email=data.email.strip().lower()[:254]) as entry:
        async with db.transaction(system=True) as session:
            admin, challenge = await admin_service.login(session, rate_limiter, email=data.email,
                                                         password=data.password, ip=client_ip(request))
        entry.admin_id, entry.details = admin.id, {"step": "password"}
    return MfaChallengeOut(challenge.mfa_token, challenge.expires_in)


@post("/mfa", status_code=HTTP_200_OK, summary="Admin sign-in, step two: the authenticator's code",
      raises=[AdminTokenInvalid, InvalidMfaCode, TooManyAttempts, NetworkNotAllowed])
async def mfa(request: Request, db: Database, admin_service: AdminService, rate_limiter: RateLimiter,
              settings: Settings, data: MfaBody) -> AdminTokensOut:
    check_network(request, settings)
    async with audited(db, request, "admin.mfa") as entry:
        async with db.transaction(system=True) as session:
            admin = await admin_service.admin_of_mfa_token(session, data.mfa_token)
            entry.admin_id, entry.admin_email = admin.id, admin.email
        # Its own transaction: a wrong code rolls back nothing the throttle or the admin lookup needs.
        async with db.transaction(system=True) as session:
            tokens = await admin_service.verify_mfa(session, rate_limiter, admin, code=data.code,
                                                    ip=client_ip(request),
                                                    user_agent=request.headers.get("user-agent", "")[:300] or None)
    return _tokens(tokens)


@post("/refresh", status_code=HTTP_200_OK, summary="Rotate an admin refresh token",
      raises=[AdminTokenInvalid, AdminSessionEnded, AdminRefreshReused, NetworkNotAllowed])
async def refresh(request: Request, db: Database, admin_service: AdminService, settings: Settings,
                  data: AdminRefreshBody) -> AdminTokensOut:
    check_network(request, settings)
    async with db.transaction(system=True) as session:
        tokens = await admin_service.refresh(session, data.refresh_token)
    return _tokens(tokens)


@get("/sessions", summary="The caller's live admin sessions", opt=audit("admin.sessions.list", "admin_session"))
async def list_sessions(admin: AdminCaller, admin_service: AdminService) -> SessionList:
    async with admin("sessions.own") as (session, who, _):
        found = await admin_service.sessions(session, who)
    return SessionList([SessionOut(s.id, s.ip, s.user_agent, s.created_at, s.last_used_at, s.expires_at,
                                   s.id == who.session_id) for s in found])


@delete("/sessions/{session_id:uuid}", status_code=HTTP_204_NO_CONTENT,
        summary="Revoke one of the caller's sessions (its tokens stop working at once)",
        raises=[AdminSessionNotFound], opt=audit("admin.session.revoke", "admin_session", resource="session_id"))
async def revoke_session(admin: AdminCaller, admin_service: AdminService, session_id: uuid.UUID) -> None:
    async with admin("sessions.own") as (session, who, _):
        await admin_service.revoke(session, who, session_id)


@post("/logout", status_code=HTTP_204_NO_CONTENT, summary="End the current admin session",
      opt=audit("admin.logout", "admin_session"))
async def logout(admin: AdminCaller, admin_service: AdminService) -> None:
    async with admin("sessions.own") as (session, who, entry):
        entry.resource_id = str(who.session_id)
        await admin_service.revoke(session, who, who.session_id)


class FreshCodeBody(Body):
    code: Annotated[str, Clean, msgspec.Meta(min_length=1, max_length=64, description=(
        "A fresh 6-digit code of the authenticator app (not a recovery code; each code works once)."))]


class RecoveryCodesOut(msgspec.Struct):
    recovery_codes: Annotated[list[str], Described(
        "Ten one-time codes, shown this once (stored hashed); the previous ones no longer work.")]


@post("/recovery-codes", status_code=HTTP_200_OK,
      summary="Replace the caller's recovery codes (needs a fresh authenticator code)",
      raises=[InvalidMfaCode, TooManyAttempts], opt=audit("admin.recovery_codes.regenerate", "admin_user"))
async def regenerate_recovery_codes(request: Request, admin: AdminCaller, admin_service: AdminService,
                                    rate_limiter: RateLimiter, data: FreshCodeBody) -> RecoveryCodesOut:
    async with admin("sessions.own") as (session, who, entry):
        entry.resource_id = str(who.id)
        codes = await admin_service.regenerate_recovery_codes(session, rate_limiter, who, code=data.code,
                                                              ip=client_ip(request))
    return RecoveryCodesOut(codes)


admin_auth_router = Router("/admin/v1/auth", tags=["admin"], route_handlers=[
    login, mfa, refresh, list_sessions, revoke_session, logout, regenerate_recovery_codes])
