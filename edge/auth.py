"""Authentication and the tenant unit of work.

The `tenant` dependency (`provide_tenant`) verifies the bearer token (no I/O).
Calling it, `tenant(permission)`, opens the request's one transaction inside
the caller's organization and, as its first statement, checks that the
membership and the login session are still live and that the role holds the
permission the route asks for. Guards are that one call; no handler compares
roles itself.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

from litestar import Request
from sqlalchemy.ext.asyncio import AsyncSession

from domain.accounts.errors import InvalidToken
from domain.accounts.service import AccountService, Member
from domain.accounts.tokens import Principal
from domain.db import Database
from domain.errors import Unauthorized


def bearer_token(request: Request) -> str:
    header = request.headers.get("authorization")
    if not header:
        raise Unauthorized("missing bearer token", code="missing_token")
    scheme, _, token = header.partition(" ")
    if scheme.lower() != "bearer" or not token.strip():
        raise InvalidToken("Authorization must be 'Bearer <access token>'")
    return token.strip()


class Tenant:
    """The caller, ready to open the request's transaction inside their organization."""

    def __init__(self, db: Database, accounts: AccountService, principal: Principal):
        self.db = db
        self.accounts = accounts
        self.principal = principal

    @asynccontextmanager
    async def __call__(self, permission: str | None) -> AsyncIterator[tuple[AsyncSession, Member]]:
        """The request's one transaction, committed on success; checks `permission` first."""
        async with self.db.transaction(org_id=self.principal.org_id, user_id=self.principal.user_id) as session:
            member = await self.accounts.authorize(session, self.principal, permission)
            yield session, member


def provide_tenant(request: Request, db: Database, accounts: AccountService) -> Tenant:
    """Dependency `tenant`: verifies the bearer token (no I/O yet)."""
    return Tenant(db, accounts, accounts.issuer.verify_access(bearer_token(request)))
