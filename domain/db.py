"""Postgres access for the whole domain: engine, sessions and the tenant boundary.

The tenant is a transaction-local setting (`set_config(..., true)`), applied in
an `after_begin` hook, so a pooled connection never carries one request's
organization into the next. Row-level security policies read it; an unset or
empty setting matches no rows.

Round trips are the cost of a short transaction (each one ~0.3 ms of Python
here, and a connection held meanwhile), so a transaction starts in one:
BEGIN, the tenant and an optional first read (`FirstRead`: the tenant
routes' membership and session check) go out together in psycopg's pipeline
mode. A pooled connection is pinged before use only when it has sat idle
(`IDLE_PING_AFTER`): under load none is, and after an outage every one is.
"""

from __future__ import annotations

import logging
import re
import time
import uuid
from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import asynccontextmanager
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

import psycopg
import redis.exceptions
from sqlalchemy import event, exc
from sqlalchemy.ext.asyncio import (
    AsyncEngine,
    AsyncSession,
    async_sessionmaker,
    create_async_engine,
)
from sqlalchemy.orm import DeclarativeBase, Session
from sqlalchemy.sql.elements import TextClause
from sqlalchemy.util import await_only

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


# A pooled connection unused for this long is pinged before it is handed out (a restarted Postgres left it
# dead); one in use a moment ago is not: under load the ping would be one round trip more per transaction.
IDLE_PING_AFTER = 1.0
_BIND = re.compile(r"(?<![:\w]):(\w+)")  # `:name`, not a `::type` cast


class Base(DeclarativeBase):
    """Declarative base of every table the application maps."""


@dataclass(frozen=True)
class FirstRead:
    """A read sent with the transaction's BEGIN and tenant, in the same round trip. `sql` uses psycopg's
    `%(name)s` parameters; its rows are found with `read_rows`. It runs before anything
    else in the transaction, the caller's authorization included: only for reads whose rows are used once
    that passed, or a write nothing has to check first (a worker's, e.g. a counted batch's delete), with
    `RETURNING` so that it has rows."""

    sql: str
    params: tuple[tuple[str, Any], ...]  # a tuple of pairs, so two reads compare equal by value


def driver_sql(statement: TextClause) -> str:
    """A `text()` statement's SQL with psycopg's `%(name)s` parameters instead of `:name`, for a `FirstRead`."""
    return _BIND.sub(r"%(\1)s", statement.text)


async def read_rows(session: AsyncSession, read: FirstRead) -> list[tuple]:
    """The rows of `read`: from the transaction's first round trip when it began with it, else run now."""
    rows = (session.info.get("first_rows") or {}).get(read)
    if rows is None:
        connection = await session.connection()
        rows = (await connection.exec_driver_sql(read.sql, dict(read.params))).all()
    return rows


class TenantSession(Session):
    """A session whose every transaction starts inside its tenant."""


@event.listens_for(TenantSession, "after_begin")
def _enter_tenant(session: Session, transaction, connection) -> None:
    params = _tenant_params(session.info)
    reads: tuple[FirstRead, ...] = session.info.get("first_reads") or ()
    driver = connection.connection.driver_connection  # psycopg's AsyncConnection under SQLAlchemy's adapter
    try:
        rows = await_only(_begin(driver, params, reads))
    except psycopg.Error as error:
        raise _as_sqlalchemy_error(error, driver, connection, TENANT_SQL, params) from error
    session.info["first_rows"] = dict(zip(reads, rows))
    # For `_commit_with_writes`: the same connection, without going back through the session for it.
    session.info["driver"] = (driver, connection)


async def _begin(driver: psycopg.AsyncConnection, params: tuple[str, str, str, str],
                 reads: tuple[FirstRead, ...]) -> list[list[tuple]]:
    """BEGIN, the tenant and `reads` in one round trip; the rows of each read.

    The connection is in psycopg's autocommit mode (`_manage_pool` sets it on connect) and BEGIN is
    our own statement: psycopg's implicit BEGIN waits for its answer even in a pipeline, a round trip
    of its own. COMMIT and ROLLBACK are psycopg's, which look at the server's transaction status.
    """
    async with driver.pipeline():
        await driver.execute(b"BEGIN")
        await driver.execute(TENANT_SQL, params)
        cursors = [await driver.execute(read.sql, dict(read.params)) for read in reads]
    return [await cursor.fetchall() for cursor in cursors]


def write_at_commit(session: AsyncSession, sql: str, params: dict[str, Any]) -> None:
    """Run `sql` (psycopg parameters) in the round trip of this transaction's COMMIT, after everything else.

    For a write nothing in the transaction reads back and whose failure is the transaction's failure (a
    command's row): one round trip fewer. Nothing is written if the transaction rolls back.
    """
    session.info.setdefault("at_commit", []).append((sql, params))


async def _commit_with_writes(session: AsyncSession) -> None:
    """Flush, then the writes of `write_at_commit` and COMMIT in one round trip; SQLAlchemy's own commit
    that follows finds the transaction ended and sends nothing."""
    writes = session.info.pop("at_commit", None)
    if not writes:
        return
    if session.new or session.dirty or session.deleted:  # each flush is a hop through SQLAlchemy's greenlet
        await session.flush()
    if "driver" not in session.info:  # nothing ran yet: begin now (`_enter_tenant` records the connection)
        await session.connection()
    driver, connection = session.info["driver"]
    try:
        async with driver.pipeline():
            for sql, params in writes:
                await driver.execute(sql, params)
            await driver.execute(b"COMMIT")
    except psycopg.Error as error:
        raise _as_sqlalchemy_error(error, driver, connection, writes[0][0], writes[0][1]) from error


def _as_sqlalchemy_error(error: psycopg.Error, driver: psycopg.AsyncConnection, connection, statement: str,
                         params: Any) -> exc.DBAPIError:
    """`error` raised as SQLAlchemy would have raised it (the edge answers 503, a worker retries); a broken
    connection does not go back to the pool."""
    broken = driver.broken or driver.closed
    if broken and connection is not None:
        connection.invalidate(error)
    return exc.DBAPIError.instance(statement, params, error, psycopg.Error, connection_invalidated=broken)


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
        # Up to 2 × `pool_size` connections, each kept once opened: an overflow connection (SQLAlchemy's
        # `max_overflow`) is closed when it comes back to a full pool, so a busy edge opened and closed ~50
        # connections a second, each a Postgres backend forked for a handful of statements (decision 133).
        self.engine: AsyncEngine = create_async_engine(
            sqlalchemy_url(url), pool_size=2 * pool_size, max_overflow=0, pool_recycle=1800,
            connect_args={"connect_timeout": CONNECT_TIMEOUT})
        _manage_pool(self.engine)
        self._sessions = async_sessionmaker(self.engine, expire_on_commit=False, sync_session_class=TenantSession)

    @asynccontextmanager
    async def transaction(self, *, org_id: uuid.UUID | None = None, user_id: uuid.UUID | None = None,
                          login_email: str | None = None, system: bool = False,
                          first_reads: tuple[FirstRead, ...] = ()) -> AsyncIterator[AsyncSession]:
        """The unit of work. `system=True` is for maintenance that spans tenants
        (the sweeper, schedules, the admin platform): row-level security lets
        such a transaction see every organization. Nothing a customer calls uses it.
        `first_reads` go out with BEGIN (see `read_rows`)."""
        session = self._sessions(info={"org_id": org_id, "user_id": user_id, "login_email": login_email,
                                       "scope": SYSTEM if system else None, "jobs": self.jobs,
                                       "first_reads": first_reads})
        refusal: DomainError | None = None
        try:
            async with session.begin():
                if first_reads:
                    await session.connection()  # begins now (lazily it would begin at the first statement)
                try:
                    yield session
                except DomainError as error:
                    # A refusal that must leave a trace (a reused refresh token
                    # revokes its family) commits what was done, then is raised.
                    if not error.keeps_changes:
                        raise
                    refusal = error
                await _commit_with_writes(session)
        finally:
            await session.close()
        # Reached only after a successful commit.
        await _run_after_commit(session)
        if refusal is not None:
            raise refusal

    async def dispose(self) -> None:
        await self.engine.dispose()


def _manage_pool(engine: AsyncEngine) -> None:
    """Each new connection in psycopg's autocommit mode (see `_begin`), and SQLAlchemy's `pool_pre_ping`,
    but only for a connection idle `IDLE_PING_AFTER` seconds.

    A restarted Postgres leaves every pooled connection dead, and restarting takes longer than that: the
    ping finds them and the pool reconnects, so the first requests after it is back succeed instead of
    failing once each. A connection that died within the last second fails its one request (503, or a
    worker's retry), and SQLAlchemy then invalidates the rest of the pool.
    """
    pool = engine.sync_engine.pool
    dialect = engine.sync_engine.dialect

    @event.listens_for(pool, "connect")
    def _new(dbapi_connection, record) -> None:
        record.info["returned_at"] = time.monotonic()
        # Transactions begin with our own BEGIN, in the round trip of the tenant (`_begin`).
        dbapi_connection.autocommit = True

    @event.listens_for(pool, "checkin")
    def _returned(dbapi_connection, record) -> None:
        if record is not None:
            record.info["returned_at"] = time.monotonic()

    @event.listens_for(pool, "checkout")
    def _ping_if_idle(dbapi_connection, record, proxy) -> None:
        if time.monotonic() - record.info.get("returned_at", 0.0) < IDLE_PING_AFTER:
            return
        try:
            dialect.do_ping(dbapi_connection)
        except Exception as error:
            # The pool discards this connection and checks out another (a new one if need be).
            raise exc.DisconnectionError(f"pooled connection is dead: {error}") from error
