"""Commands: the 202 every side-effecting write answers, and the status a frontend polls."""

from __future__ import annotations

import uuid
from datetime import datetime
from typing import Annotated, Any

import msgspec
from litestar import Response, Router, get
from litestar.params import Parameter
from litestar.status_codes import HTTP_202_ACCEPTED

from domain.commands import service as commands
from domain.commands.models import Command
from domain.commands.errors import CommandNotFound
from edge.auth import Tenant
from edge.schemas import NO_NUL, Described

# Declared once so every command route documents and validates it alike.
IdempotencyKey = Annotated[str | None, Parameter(
    header="Idempotency-Key", required=False, min_length=1, max_length=255, pattern=NO_NUL,
    description="Send the same key to retry safely: the same command comes back, nothing runs twice.")]


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
    return Response(Accepted(command.id, command.status), status_code=HTTP_202_ACCEPTED,
                    headers={"Location": f"/v1/commands/{command.id}"})


@get("/{command_id:uuid}", summary="A command's status, result or readable error", raises=[CommandNotFound])
async def get_command(tenant: Tenant, command_id: uuid.UUID) -> CommandOut:
    async with tenant("commands.read") as (session, _):
        command = await commands.get(session, command_id)
    return CommandOut(command.id, command.kind, command.status, command.result, command.error, command.attempts,
                      command.created_at, command.updated_at, command.finished_at)


commands_router = Router("/v1/commands", tags=["commands"], route_handlers=[get_command])
