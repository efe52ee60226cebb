"""Commands: the 202 every side-effecting write answers, and the status a frontend polls."""

from __future__ import annotations

import hashlib
import uuid
from collections.abc import Awaitable, Callable
from datetime import datetime
from typing import Annotated, Any

import msgspec
from litestar import Request, Response, Router, get
from litestar.params import Parameter
from litestar.status_codes import HTTP_202_ACCEPTED
from sqlalchemy.ext.asyncio import AsyncSession

from domain.accounts.service import Member
from domain.commands import service as commands
from domain.commands.errors import CommandNotFound
from domain.commands.models import Command, Idempotency
from edge.auth import Also, Tenant
from edge.schemas import NO_NUL, Described, out
from objecta.metrics import m

# Declared once so every command route documents and validates it alike.
IdempotencyKey = Annotated[str | None, Parameter(
    header="Idempotency-Key", required=False, min_length=1, max_length=255, pattern=NO_NUL,
    description="Send the same key to retry safely: the same request with the same key answers the command it "
                "first created (whatever happened since), and nothing runs twice. The key belongs to you in your "
                "organization; reused for a different request it answers 409 `idempotency_key_reused`.")]


class Accepted(msgspec.Struct):
    command_id: uuid.UUID
    status: Annotated[str, Described("Its status now: `queued` when new, any for a repeated Idempotency-Key; "
                                     "follow it at `Location` (/v1/commands/{id}) or on the relay.")]


class CommandOut(msgspec.Struct):
    id: uuid.UUID
    kind: str
    status: Annotated[str, Described("`queued`, `running`, `succeeded` or `failed`.")]
    result: Annotated[dict[str, Any] | None, Described("What the command produced, once `succeeded`.")]
    error: Annotated[str | None, Described("Why it failed, fit to show to the person who sent it.")]
    attempts: Annotated[int, Described("Deliveries to a worker so far, retries included.")]
    created_at: datetime
    updated_at: datetime
    finished_at: datetime | None


def accepted(command: Command) -> Response[Accepted]:
    """202 with the command's address; the result arrives there and on the relay."""
    return Response(Accepted(command_id=command.id, status=command.status), status_code=HTTP_202_ACCEPTED,
                    headers={"Location": f"/v1/commands/{command.id}"})


Submit = Callable[[AsyncSession, Member, Idempotency | None], Awaitable[Command]]


def fingerprint(request: Request, body: msgspec.Struct | None) -> str:
    """What makes two requests "the same" for an Idempotency-Key: the method, the path and the decoded body.

    The decoded body, not its bytes: the same fields in another order or with
    other whitespace are the same request.
    """
    digest = hashlib.sha256(f"{request.method} {request.url.path}\n".encode())
    if body is not None:
        digest.update(msgspec.json.encode(body))
    return digest.hexdigest()


async def accept_command(request: Request, tenant: Tenant, permission: str, idempotency_key: str | None,
                         body: msgspec.Struct | None, submit: Submit, *,
                         also: Also | None = None) -> Response[Accepted]:
    """The one way a route accepts a command: replay a retried request first, else run the rules and submit.

    `submit` holds the route's rules; it runs only for a request not seen
    before, in the same transaction, with the `Idempotency` to record.
    `also`: reads the rules make, sent with the transaction's first round trip (`Tenant`).
    """
    idempotency = Idempotency(idempotency_key, fingerprint(request, body)) if idempotency_key else None
    async with tenant(permission, also=also) as (session, member):
        command = await commands.replay(session, member.principal.org_id, member.principal.user_id, idempotency)
        replayed = command is not None
        if command is None:
            command = await submit(session, member, idempotency)
    if not replayed:  # committed: a new command, not a retry answered with the first one
        m().commands_accepted.labels(command.kind).inc()
    return accepted(command)


@get("/{command_id:uuid}", summary="A command's status, result or readable error", raises=[CommandNotFound])
async def get_command(tenant: Tenant, command_id: uuid.UUID) -> CommandOut:
    async with tenant("commands.read") as (session, _):
        command = await commands.get(session, command_id)
    return out(command, CommandOut)


commands_router = Router("/v1/commands", tags=["commands"], route_handlers=[get_command])
