"""Commands: accepted by the edge, carried out by a worker, watched by the sender.

The edge calls `submit` inside the request's transaction; the job is sent
after commit. A worker calls `start`, then does the work and `succeed`s in
one transaction (so the effect and the status commit together), or `fail`s
or `retry_later`s. Every status change is published as `command.updated`
to the sender once its transaction commits.
"""

from __future__ import annotations

import uuid
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy.ext.asyncio import AsyncSession

from domain import correlation, jobs
from domain.commands import repository
from domain.commands.errors import CommandNotFound, IdempotencyKeyReused
from domain.commands.models import FAILED, FINISHED, QUEUED, RUNNING, SUCCEEDED, Command, CommandKind, Idempotency
from domain.db import FirstRead
from domain.models import utcnow
from domain.realtime import Publisher, org_channel, publish_after_commit, user_channel

MAX_ERROR_LENGTH = 2000


async def replay(session: AsyncSession, org_id: uuid.UUID, user_id: uuid.UUID,
                 idempotency: Idempotency | None) -> Command | None:
    """The first step of accepting a command: the command this request already created, if any.

    Looked up before any rule runs, so a retry after success gets the original
    command even when the rules would now refuse the request (the plan has
    changed, the agent is deployed), and changes nothing. The key is scoped to
    the organization and the person; concurrent requests with one key wait for
    each other here (a transaction-scoped advisory lock), so exactly one
    creates the command. A different request under a used key is a 409 naming
    the first command.
    """
    if idempotency is None:
        return None
    await repository.lock_idempotency_key(session, org_id, user_id, idempotency.key)
    earlier = await repository.by_idempotency_key(session, org_id, user_id, idempotency.key)
    if earlier is None:
        return None
    if earlier.request_hash is not None and earlier.request_hash != idempotency.fingerprint:
        raise IdempotencyKeyReused(
            f"this Idempotency-Key was already used for a different request ({earlier.kind} {earlier.id}); "
            "use a new key for a new request", details={"command_id": str(earlier.id), "kind": earlier.kind})
    return earlier


async def submit(session: AsyncSession, kind: CommandKind, *, org_id: uuid.UUID, user_id: uuid.UUID | None,
                 payload: dict[str, Any], idempotency: Idempotency | None = None) -> Command:
    """Record a command and send it to its actor once the transaction commits.

    Callers run `replay` first (the edge's `accept` does): a key that is
    already taken here means that step was skipped, and is refused rather
    than answered with a command that may be another request's.
    """
    now = utcnow()
    values = dict(id=uuid.uuid4(), org_id=org_id, user_id=user_id, kind=kind.name, queue=kind.queue, actor=kind.actor,
                  payload=payload, idempotency_key=idempotency.key if idempotency else None,
                  request_hash=idempotency.fingerprint if idempotency else None, status=QUEUED, attempts=0,
                  created_at=now, updated_at=now, request_id=correlation.request_id.get())
    if idempotency is None:
        repository.insert_command_at_commit(session, values)
    elif not await repository.insert_command(session, values):
        raise IdempotencyKeyReused("this Idempotency-Key is already in use; send the request again",
                                   details={"kind": kind.name})
    command = Command(**values)  # what was inserted, for the answer; not attached to the session
    jobs.enqueue(session, kind.job, str(command.id), str(org_id), org_id=org_id)
    return command


async def get(session: AsyncSession, command_id: uuid.UUID) -> Command:
    command = await repository.get(session, command_id)
    if command is None:
        raise CommandNotFound("command not found")
    return command


def _publish(session: AsyncSession, publisher: Publisher, command: Command) -> None:
    channel = user_channel(command.user_id) if command.user_id else org_channel(command.org_id)
    publish_after_commit(session, publisher, channel, "command.updated", command.as_event())


def _set(command: Command, status: str, **fields: Any) -> None:
    command.status = status
    command.updated_at = utcnow()
    for name, value in fields.items():
        setattr(command, name, value)
    if status in FINISHED:
        command.finished_at = command.updated_at


def claim_read(command_id: uuid.UUID, max_attempts: int) -> FirstRead:
    """What `start` runs first, for the claiming transaction to begin with (one round trip fewer)."""
    return repository.claim_read(command_id, max_attempts)


async def start(session: AsyncSession, command_id: uuid.UUID, *, max_attempts: int,
                publisher: Publisher) -> Command | None:
    """Claim a delivery: count the attempt and mark the command running.

    Only a command that comes back `running` should be worked on. A finished
    one is a duplicate delivery; one out of attempts is failed here, which is
    how a message that kills its worker every time ends: failed, not looping.
    The attempt is committed before any work, so a crash still counts.
    None means the command no longer exists.

    The usual delivery is one statement (`repository.claim`) and returns the
    command detached from the session; the rest (gone, finished, out of
    attempts) is read under a row lock and returned attached, a failure made
    here pending in the session.
    """
    command = await repository.claim(session, command_id, max_attempts=max_attempts)
    if command is not None:
        _publish(session, publisher, command)
        return command
    command = await repository.get(session, command_id, for_update=True)
    if command is None or command.status in FINISHED:
        return command
    if command.attempts >= max_attempts:
        reason = command.error or "the worker running it stopped before finishing (it may be crashing the worker)"
        _set(command, FAILED, error=_readable(f"gave up after {command.attempts} attempts: {reason}"))
    else:  # finished a moment ago, then replayed by an operator (`requeue_dead`) before the lock
        _set(command, RUNNING, attempts=command.attempts + 1, started_at=utcnow())
    _publish(session, publisher, command)
    return command


async def succeed(session: AsyncSession, command: Command, result: dict[str, Any], publisher: Publisher) -> None:
    """Record the result in the work's transaction. `command` is the one `start` returned (not attached to this
    session); a command deleted meanwhile raises CommandNotFound, so the work's effect rolls back with it."""
    now = utcnow()
    if not await repository.finish(session, command.id, status=SUCCEEDED, result=result, error=None, now=now):
        raise CommandNotFound("command not found")
    _set(command, SUCCEEDED, result=result, error=None, updated_at=now)
    _publish(session, publisher, command)


async def fail(session: AsyncSession, command_id: uuid.UUID, error: str, publisher: Publisher) -> Command | None:
    command = await repository.get(session, command_id, for_update=True)
    if command is None or command.status in FINISHED:
        return None
    _set(command, FAILED, error=_readable(error))
    _publish(session, publisher, command)
    return command


async def retry_later(session: AsyncSession, command_id: uuid.UUID, error: str, publisher: Publisher) -> None:
    """Back to queued while the broker waits out the backoff; the error says why."""
    command = await repository.get(session, command_id, for_update=True)
    if command is None or command.status in FINISHED:
        return
    _set(command, QUEUED, error=_readable(f"attempt {command.attempts} failed, retrying: {error}"))
    _publish(session, publisher, command)


async def resend_stale(session: AsyncSession, *, queued_for: int, running_for: int, limit: int = 500) -> int:
    """The sweeper: re-send commands whose message was lost (all tenants; system scope).

    A command queued for `queued_for` seconds was most likely committed but
    never reached the broker; one running for `running_for` seconds lost its
    worker and message both. Re-sending is safe: work is idempotent and
    `start` ignores finished commands and bounds attempts.
    """
    now = utcnow()
    stale = await repository.stale(session, now - timedelta(seconds=queued_for),
                                   now - timedelta(seconds=running_for), limit)
    if not stale:
        return 0
    await repository.touch(session, [c.id for c in stale], now)
    for command in stale:
        jobs.enqueue(session, jobs.JobKind(command.actor, queue=command.queue), str(command.id), str(command.org_id),
                     org_id=command.org_id, request_id=command.request_id)
    return len(stale)


async def requeue_dead(session: AsyncSession, command_id: uuid.UUID, publisher: Publisher) -> Command | None:
    """An operator replays a dead-lettered command (`objecta dlq replay`) once its cause is fixed.

    A failed command goes back to `queued` with its attempts reset, the sender
    hears it, and it is sent again after the commit, as the edge sends a new
    one. A command that is not failed (a duplicate letter of one that has
    since succeeded, or one the sweeper already re-sent) is left as it is:
    its letter is spent. None when there is no such command.
    """
    command = await repository.get(session, command_id, for_update=True)
    if command is None or command.status != FAILED:
        return command
    _set(command, QUEUED, attempts=0, error=None, result=None, started_at=None, finished_at=None)
    _publish(session, publisher, command)
    jobs.enqueue(session, jobs.JobKind(command.actor, queue=command.queue), str(command.id), str(command.org_id),
                 org_id=command.org_id, request_id=command.request_id)
    return command


async def by_ids(session: AsyncSession, command_ids: list[uuid.UUID]) -> list[Command]:
    return await repository.by_ids(session, command_ids)


def _readable(error: str) -> str:
    return error if len(error) <= MAX_ERROR_LENGTH else error[: MAX_ERROR_LENGTH - 1] + "…"



async def failed_since(session: AsyncSession, since: datetime) -> int:
    """How many commands failed (for good) since `since`, every organization (system scope): a health figure."""
    return await repository.count_failed_since(session, since)


async def unfinished(session: AsyncSession, org_id: uuid.UUID, kind: CommandKind) -> Command | None:
    """A queued or running command of `kind` in the organization: for rules that refuse a second one meanwhile."""
    return await repository.unfinished_of_kind(session, org_id, kind.name)
