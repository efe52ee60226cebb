"""Authentication and the tenant unit of work.

The `tenant` dependency (`provide_tenant`) verifies the bearer token (no I/O).
Calling it, `tenant(permission)`, opens the request's one transaction inside
the caller's organization and, as its first statement, checks that the
membership and the login session are still live and that the role holds the
permission the route asks for. Guards are that one call; no handler compares
roles itself.
"""

from __future__ import annotations

import uuid
from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager

from litestar import Request
from sqlalchemy.ext.asyncio import AsyncSession

from domain.accounts.errors import InvalidToken
from domain.accounts.service import AccountService, Member
from domain.accounts.tokens import Principal
from domain.analytics import keys
from domain.analytics.errors import ApiKeyNotAllowed
from domain.analytics.models import Sender
from domain.db import Database, FirstRead
from domain.errors import Unauthorized


def bearer_token(request: Request) -> str:
    header = request.headers.get("authorization")
    if not header:
        raise Unauthorized("missing bearer token", code="missing_token")
    scheme, _, token = header.partition(" ")
    if scheme.lower() != "bearer" or not token.strip():
        raise InvalidToken("Authorization must be 'Bearer <access token>'")
    return token.strip()


# Reads a route's rules make, by the caller's organization (None where a read does not apply); see `Tenant`.
Also = Callable[[uuid.UUID], tuple[FirstRead | None, ...]]


class Tenant:
    """The caller, ready to open the request's transaction inside their organization."""

    def __init__(self, db: Database, accounts: AccountService, principal: Principal):
        self.db = db
        self.accounts = accounts
        self.principal = principal

    @asynccontextmanager
    async def __call__(self, permission: str | None, *,
                       also: Also | None = None,
                       ) -> AsyncIterator[tuple[AsyncSession, Member]]:
        """The request's one transaction, committed on success; checks `permission` first.

        `also(org_id)`: reads the route's rules will make (e.g. the plan's standing), sent with the
        transaction's first round trip, after the authorization's, instead of round trips of their own."""
        principal = self.principal
        reads = (self.accounts.authorization_read(principal), *(also(principal.org_id) if also else ()))
        async with self.db.transaction(org_id=principal.org_id, user_id=principal.user_id,
                                       first_reads=tuple(read for read in reads if read is not None)) as session:
            member = await self.accounts.authorize(session, principal, permission)
            yield session, member

    @asynccontextmanager
    async def person(self) -> AsyncIterator[tuple[AsyncSession, Principal]]:
        """The request's one transaction for a route about the person, not an organization (logout, password,
        email, creating an organization): only the login must be live, so a person with no organization
        gets here too. Nothing of any organization is visible in it."""
        async with self.db.transaction(user_id=self.principal.user_id) as session:
            await self.accounts.require_live_session(session, self.principal)
            yield session, self.principal


def provide_tenant(request: Request, db: Database, accounts: AccountService) -> Tenant:
    """Dependency `tenant`: verifies the bearer token (no I/O yet)."""
    token = bearer_token(request)
    if keys.is_api_key(token):
        raise ApiKeyNotAllowed("an organization API key only sends events (POST /v1/events); "
                               "this route takes a person's access token")
    return Tenant(db, accounts, accounts.issuer.verify_access(token))


class EventSender:
    """Whoever sends events: a person with `events.write`, or an organization API key (`obk_...`)."""

    def __init__(self, db: Database, accounts: AccountService, token: str, principal: Principal | None):
        self.db = db
        self.accounts = accounts
        self.token = token
        self.principal = principal  # a person's verified token; None for a key (that needs the database)

    @asynccontextmanager
    async def __call__(self) -> AsyncIterator[tuple[AsyncSession, Sender]]:
        """The request's one transaction, inside the sender's organization; committed on success."""
        if self.principal is None:
            async with self.db.transaction() as session:
                yield session, await keys.authenticate(session, self.token)
            return
        principal = self.principal
        read = self.accounts.authorization_read(principal)
        async with self.db.transaction(org_id=principal.org_id, user_id=principal.user_id,
                                       first_reads=(read,) if read else ()) as session:
            await self.accounts.authorize(session, principal, "events.write")
            yield session, Sender(org_id=principal.org_id, user_id=principal.user_id)


def provide_event_sender(request: Request, db: Database, accounts: AccountService) -> EventSender:
    """Dependency `event_sender` of POST /v1/events."""
    token = bearer_token(request)
    principal = None if keys.is_api_key(token) else accounts.issuer.verify_access(token)
    return EventSender(db, accounts, token, principal)
