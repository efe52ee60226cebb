"""Postgres access for the whole domain: engine, sessions and the tenant boundary.

The tenant is a transaction-local setting (`set_config(..., true)`), applied in
an `after_begin` hook, so a pooled connection never carries one request's
organization into the next. Row-level security policies read it; an unset or
empty setting matches no rows.
"""

from __future__ import annotations

import logging
import uuid
from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import asynccontextmanager
from typing import TYPE_CHECKING, Any

import redis.exceptions
from sqlalchemy import event
from sqlalchemy.ext.asyncio import (
    AsyncEngine,
    AsyncSession,
    async_sessionmaker,
    create_async_engine,
)
from sqlalchemy.orm import DeclarativeBase, Session

from domain.errors import DomainError

if TYPE_CHECKING:
    from domain.jobs import JobSender

log = logging.getLogger(__name__)

TENANT_SQL = (
    "select set_config('app.org_id', %s, true), set_config('app.user_id', %s, true), "
    "set_config('app.login_email', %s, true), set_config('app.scope', %s, true)"
)
SYSTEM = "system"
# Seconds to open a connection: a Postgres behind a partition answers nothing, and a request should
# get its 503 rather than wait on the kernel's own TCP timeout (minutes).
CONNECT_TIMEOUT = 5
# What a send after commit raises when the broker or Redis cannot be reached (objecta.broker.BrokerUnavailable
# is a ConnectionError).
UNREACHABLE = (ConnectionError, TimeoutError, redis.exceptions.ConnectionError, redis.exceptions.TimeoutError)


class Base(DeclarativeBase):
    """Declarative base of every table the application maps."""


class TenantSession(Session):
    """A session whose every transaction starts inside its tenant."""


@event.listens_for(TenantSession, "after_begin")
def _enter_tenant(session: Session, transaction, connection) -> None:
    connection.exec_driver_sql(TENANT_SQL, _tenant_params(session.info))


def _tenant_params(info: dict) -> tuple[str, str, str, str]:
    return (str(info.get("org_id") or ""), str(info.get("user_id") or ""), info.get("login_email") or "",
            info.get("scope") or "")


async def bind_tenant(session: AsyncSession, *, org_id: uuid.UUID | None = None,
                      user_id: uuid.UUID | None = None, login_email: str | None = None) -> None:
    """Change the tenant inside an open transaction (login learns the user mid-way)."""
    info = session.info
    if org_id is not None:
        info["org_id"] = org_id
    if user_id is not None:
        info["user_id"] = user_id
    if login_email is not None:
        info["login_email"] = login_email
    connection = await session.connection()
    await connection.exec_driver_sql(TENANT_SQL, _tenant_params(info))


def sqlalchemy_url(url: str) -> str:
    """SQLAlchemy's URL for psycopg 3 (sync and async engines alike), whatever scheme the operator wrote."""
    for prefix in ("postgresql+psycopg://", "postgresql://", "postgres://"):
        if url.startswith(prefix):
            return "postgresql+psycopg://" + url[len(prefix):]
    return url


def after_commit(session: AsyncSession, callback: Callable[[], Awaitable[Any]]) -> None:
    """Run `callback` once `session`'s transaction commits; drop it on rollback."""
    session.info.setdefault("after_commit", []).append(callback)


async def _run_after_commit(session: AsyncSession) -> None:
    for callback in session.info.pop("after_commit", []):
        try:
            await callback()
        except Exception as error:
            # The change is committed: a job or an event that could not be sent must not turn it into an
            # error. A command's job is re-sent by the sweeper; a lost event is refetched by the client.
            if isinstance(error, UNREACHABLE):  # an outage: one line per send, not a traceback each
                log.warning("after commit, could not send (the change stays committed): %s: %s",
                            type(error).__name__, error)
            else:
                log.exception("after-commit callback failed")


class Database:
    """One engine per process; `transaction()` is the unit of work.

    Only the outermost caller (a request handler, an actor) opens a
    transaction; domain code receives the session and flushes. Jobs buffered
    with `domain.jobs.enqueue` during the transaction are sent after it
    commits and dropped if it rolls back.
    """

    def __init__(self, url: str, pool_size: int = 10, *, jobs: JobSender | None = None):
        # Where `domain.jobs.enqueue` hands its jobs after commit; a process that never enqueues may omit it.
        self.jobs = jobs
        self.engine: AsyncEngine = create_async_engine(
            sqlalchemy_url(url), pool_size=pool_size, max_overflow=pool_size, pool_recycle=1800,
            # A restarted Postgres leaves every pooled connection dead; the ping on checkout finds them
            # and reconnects, so the first requests after it is back succeed instead of failing once each.
            pool_pre_ping=True, connect_args={"connect_timeout": CONNECT_TIMEOUT})
        self._sessions = async_sessionmaker(self.engine, expire_on_commit=False, sync_session_class=TenantSession)

    @asynccontextmanager
    async def transaction(self, *, org_id: uuid.UUID | None = None, user_id: uuid.UUID | None = None,
                          login_email: str | None = None, system: bool = False) -> AsyncIterator[AsyncSession]:
        """The unit of work. `system=True` is for maintenance that spans tenants
        (the sweeper, schedules, the admin platform): row-level security lets
        such a transaction see every organization. Nothing a customer calls uses it."""
        session = self._sessions(info={"org_id": org_id, "user_id": user_id, "login_email": login_email,
                                       "scope": SYSTEM if system else None, "jobs": self.jobs})
        refusal: DomainError | None = None
        try:
            async with session.begin():
                try:
                    yield session
                except DomainError as error:
                    # A refusal that must leave a trace (a reused refresh token
                    # revokes its family) commits what was done, then is raised.
                    if not error.keeps_changes:
                        raise
                    refusal = error
        finally:
            await session.close()
        # Reached only after a successful commit.
        await _run_after_commit(session)
        if refusal is not None:
            raise refusal

    async def dispose(self) -> None:
        await self.engine.dispose()
