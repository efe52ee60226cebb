"""All SQL of the commands capability."""

from __future__ import annotations

import json
import uuid
from datetime import datetime
from typing import Any

from psycopg.types.json import Jsonb
from sqlalchemy import select, text, update
from sqlalchemy.dialects.postgresql import insert
from sqlalchemy.ext.asyncio import AsyncSession

from domain.commands.models import QUEUED, RUNNING, Command
from domain.db import FirstRead, read_rows, write_at_commit


async def insert_command(session: AsyncSession, values: dict[str, Any]) -> bool:
    """Insert a command unless its (org, user, idempotency key) exists; False when it did.

    A Core statement, not an ORM flush: this is the hot path of every command
    the edge accepts, and the unit-of-work machinery costs more than the insert.
    """
    statement = insert(Command.__table__).values(**values)
    if values.get("idempotency_key") is not None:
        statement = statement.on_conflict_do_nothing(
            index_elements=["org_id", "user_id", "idempotency_key"], index_where=text("idempotency_key is not null"))
    result = await session.execute(statement.returning(Command.__table__.c.id))
    return result.first() is not None


_INSERT = """
    insert into commands (id, org_id, user_id, kind, queue, actor, payload, status, attempts, created_at, updated_at,
                          request_id)
    values (%(id)s, %(org_id)s, %(user_id)s, %(kind)s, %(queue)s, %(actor)s, %(payload)s, %(status)s, %(attempts)s,
            %(created_at)s, %(updated_at)s, %(request_id)s)"""


def insert_command_at_commit(session: AsyncSession, values: dict[str, Any]) -> None:
    """Insert a command without an idempotency key (nothing to conflict with) in the COMMIT's round trip:
    nothing in the accepting transaction reads it back, and it fails the transaction if it fails."""
    write_at_commit(session, _INSERT, {**values, "payload": Jsonb(values["payload"])})


async def lock_idempotency_key(session: AsyncSession, org_id: uuid.UUID, user_id: uuid.UUID, key: str) -> None:
    """Serialize requests carrying one key until this transaction ends (a transaction-scoped advisory lock)."""
    await session.execute(text("select pg_advisory_xact_lock(hashtextextended(:name, 0))"),
                          {"name": f"idempotency:{org_id}:{user_id}:{key}"})


async def by_idempotency_key(session: AsyncSession, org_id: uuid.UUID, user_id: uuid.UUID,
                             key: str) -> Command | None:
    query = select(Command).where(Command.org_id == org_id, Command.user_id == user_id,
                                  Command.idempotency_key == key)
    return (await session.execute(query)).scalar_one_or_none()


async def get(session: AsyncSession, command_id: uuid.UUID, *, for_update: bool = False) -> Command | None:
    query = select(Command).where(Command.id == command_id)
    if for_update:
        query = query.with_for_update()
    return (await session.execute(query)).scalar_one_or_none()


# A worker's two writes per delivery, as driver SQL: no ORM load, unit of work or statement compilation. One
# statement each, so claiming is one round trip (the row lock is the UPDATE's, as `for update` took it before).
_COLUMN_NAMES = [column.name for column in Command.__table__.c]
COLUMNS = ", ".join(_COLUMN_NAMES)
CLAIM_SQL = f"""
    update commands set status = 'running', attempts = attempts + 1, started_at = now(), updated_at = now()
    where id = %(id)s and status not in ('succeeded', 'failed') and attempts < %(max_attempts)s
    returning {COLUMNS}"""
FINISH_SQL = """
    update commands set status = %(status)s, result = %(result)s::jsonb, error = %(error)s, updated_at = %(now)s,
        finished_at = %(now)s
    where id = %(id)s"""


def claim_read(command_id: uuid.UUID, max_attempts: int) -> FirstRead:
    """The claim as a statement its transaction can begin with (`Database.transaction(first_reads=...)`):
    the claiming transaction is then two round trips, begin-and-claim and commit."""
    return FirstRead(CLAIM_SQL, (("id", command_id), ("max_attempts", max_attempts)))


async def claim(session: AsyncSession, command_id: uuid.UUID, *, max_attempts: int) -> Command | None:
    """Count an attempt and mark the command running, if it is unfinished with attempts left; the command as
    it now is (not attached to the session), or None when it is gone, finished or out of attempts."""
    rows = await read_rows(session, claim_read(command_id, max_attempts))
    return Command(**dict(zip(_COLUMN_NAMES, rows[0]))) if rows else None


async def finish(session: AsyncSession, command_id: uuid.UUID, *, status: str, result: dict[str, Any] | None,
                 error: str | None, now: datetime) -> bool:
    """Record the outcome; False when there is no such command (in this tenant)."""
    connection = await session.connection()
    done = await connection.exec_driver_sql(FINISH_SQL, {
        "id": command_id, "status": status, "result": None if result is None else json.dumps(result),
        "error": error, "now": now})
    return done.rowcount == 1


async def by_ids(session: AsyncSession, command_ids: list[uuid.UUID]) -> list[Command]:
    return list((await session.execute(select(Command).where(Command.id.in_(command_ids)))).scalars())


async def stale(session: AsyncSession, queued_before: datetime, running_before: datetime,
                limit: int) -> list[Command]:
    """Unfinished commands nobody has touched for too long, oldest first (all tenants)."""
    query = (select(Command)
             .where(((Command.status == QUEUED) & (Command.updated_at < queued_before))
                    | ((Command.status == RUNNING) & (Command.updated_at < running_before)))
             .order_by(Command.updated_at).limit(limit).with_for_update(skip_locked=True))
    return list((await session.execute(query)).scalars())


async def touch(session: AsyncSession, command_ids: list[uuid.UUID], when: datetime) -> None:
    await session.execute(update(Command).where(Command.id.in_(command_ids)).values(updated_at=when))


async def count_failed_since(session: AsyncSession, since: datetime) -> int:
    """Commands of every organization that failed since then (system scope)."""
    row = await session.execute(text("select count(*) from commands where status = 'failed' and finished_at >= :since"),
                                {"since": since})
    return int(row.scalar() or 0)


async def unfinished_of_kind(session: AsyncSession, org_id: uuid.UUID, kind: str) -> Command | None:
    """The organization's queued or running command of `kind`, if any."""
    query = select(Command).where(Command.org_id == org_id, Command.kind == kind,
                                  Command.status.in_((QUEUED, RUNNING))).limit(1)
    return (await session.execute(query)).scalar_one_or_none()
