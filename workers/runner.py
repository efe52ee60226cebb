"""How every command actor runs: claim, work, record, publish, retry, give up.

    @command_actor(DEPLOY)
    async def deploy(session, command, ctx) -> dict: ...

The work function runs in one transaction with `succeed`, so the effect and
the `succeeded` status commit together. Failures:
- `CommandFailed`: for good; the command fails with its message, no retry.
- anything else: transient; the command goes back to `queued` with the
  reason and Dramatiq retries it with backoff, until the command's attempt
  count reaches COMMAND_MAX_ATTEMPTS: then it is failed and the message
  dead-lettered. Attempts are counted in Postgres when a delivery starts, so
  deliveries that crashed their worker (which Dramatiq does not count as
  retries) count too.
"""

from __future__ import annotations

import logging
import uuid
from collections.abc import Awaitable, Callable
from typing import Any

import dramatiq
from sqlalchemy.exc import DBAPIError
from sqlalchemy.ext.asyncio import AsyncSession

from domain.commands import service as commands
from domain.commands.errors import CommandFailed, TransientFailure
from domain.commands.models import FAILED, RUNNING, Command, CommandKind
from objecta.metrics import m
from workers.context import WorkerContext, context

log = logging.getLogger(__name__)

Work = Callable[[AsyncSession, Command, WorkerContext], Awaitable[dict[str, Any]]]
OnFailure = Callable[[AsyncSession, Command], Awaitable[None]]

MIN_BACKOFF_MS = 1_000
MAX_BACKOFF_MS = 60_000
# Dramatiq's own bound for failures outside our bookkeeping (the database
# down before a delivery could be recorded); the sweeper takes over after.
MAX_INFRASTRUCTURE_RETRIES = 20


class Retry(Exception):
    """The attempt failed transiently; Dramatiq should retry with backoff."""


class GiveUp(Exception):
    """The command is failed; Dramatiq should dead-letter the message."""


def _should_retry(retries: int, error: Exception) -> bool:
    if isinstance(error, Retry):
        return True
    return isinstance(error, DBAPIError) and retries < MAX_INFRASTRUCTURE_RETRIES


def readable(error: Exception) -> str:
    if isinstance(error, (CommandFailed, TransientFailure)):
        return error.message
    return f"unexpected error ({type(error).__name__}); the team has been alerted"


async def run(command_id: uuid.UUID, org_id: uuid.UUID, work: Work, on_failure: OnFailure | None) -> None:
    ctx = context()
    max_attempts = ctx.settings.commands.max_attempts
    async with ctx.db.transaction(org_id=org_id,
                                  first_reads=(commands.claim_read(command_id, max_attempts),)) as session:
        command = await commands.start(session, command_id, max_attempts=max_attempts, publisher=ctx.publisher)
        # Failed just now, out of attempts: the deliveries before this one crashed their worker (a poison
        # message). Dead-lettered below, so an operator can replay it once the cause is fixed.
        exhausted = command is not None and command.status == FAILED and session.is_modified(command)
        if command is not None and command.status == FAILED and on_failure is not None:
            await on_failure(session, command)  # idempotent: a duplicate delivery may repeat it
    if exhausted:
        m().commands_finished.labels(command.kind, "failed").inc()
        raise GiveUp(command.error)
    if command is None or command.status != RUNNING:
        return
    # Plain values: the ORM objects of a rolled-back transaction are expired.
    attempt, kind, user_id = command.attempts, command.kind, command.user_id
    try:
        async with ctx.db.transaction(org_id=org_id, user_id=user_id) as session:
            # The command as the claim returned it, not read again (a round trip and an ORM load per delivery):
            # what the work reads (payload, organization, person, attempt) is what this delivery claimed, and
            # `succeed` finds out if the row was deleted meanwhile.
            result = await work(session, command, ctx)
            await commands.succeed(session, command, result, ctx.publisher)
        m().commands_finished.labels(kind, "succeeded").inc()
        log.info("command %s (%s) succeeded on attempt %d", command_id, kind, attempt)
    except Exception as error:
        permanent = isinstance(error, CommandFailed)
        final = permanent or attempt >= max_attempts
        if not permanent:
            log.exception("command %s (%s) attempt %d failed", command_id, kind, attempt)
        async with ctx.db.transaction(org_id=org_id, user_id=user_id) as session:
            if final:
                prefix = "" if permanent else f"gave up after {attempt} attempts: "
                failed = await commands.fail(session, command_id, prefix + readable(error), ctx.publisher)
                if failed is not None and on_failure is not None:
                    await on_failure(session, failed)
            else:
                await commands.retry_later(session, command_id, readable(error), ctx.publisher)
        if final:
            m().commands_finished.labels(kind, "failed").inc()
        else:
            m().commands_retried.labels(kind).inc()
        if permanent:
            return  # an expected outcome, not a dead letter
        if final:  # the dead letter's reason says what the command's error says
            raise GiveUp(f"gave up after {attempt} attempts: {readable(error)}") from error
        raise Retry(readable(error)) from error


def command_actor(kind: CommandKind, *, on_failure: OnFailure | None = None, **options: Any):
    """Declare the actor that carries out one kind of command (args: command id, org id)."""

    def declare(work: Work) -> dramatiq.Actor:
        async def perform(command_id: str, org_id: str) -> None:
            await run(uuid.UUID(command_id), uuid.UUID(org_id), work, on_failure)

        perform.__name__ = perform.__qualname__ = work.__name__
        perform.__module__ = work.__module__
        return dramatiq.actor(perform, actor_name=kind.actor, queue_name=kind.queue, retry_when=_should_retry,
                              min_backoff=MIN_BACKOFF_MS, max_backoff=MAX_BACKOFF_MS,
                              time_limit=context_time_limit(), **options)

    return declare


def context_time_limit() -> int:
    from workers.broker import settings
    return settings.commands.time_limit_ms
