"""Extending a customer's trial (a `billing` command, 202) and following the commands an admin started."""

from __future__ import annotations

import uuid
from typing import Annotated

import msgspec
from litestar import Request, Response, Router, get, post
from litestar.status_codes import HTTP_202_ACCEPTED

from domain.admin import customers
from domain.admin.errors import CustomerNotFound
from domain.billing.errors import NoTrial, TrialExtensionPending, TrialTooLong
from domain.commands.errors import CommandNotFound
from edge.admin.guard import AdminCaller, audit
from domain.commands.errors import IdempotencyKeyReused
from domain.commands.models import Idempotency
from edge.routes.commands import Accepted, CommandOut, IdempotencyKey, fingerprint
from edge.schemas import Body, out


class TrialExtensionBody(Body):
    days: Annotated[int, msgspec.Meta(ge=1, le=90, description=(
        "Days added to the current trial end (the trial may end at most 90 days from today)."))]


@post("/customers/{org_id:uuid}/trial-extensions", status_code=HTTP_202_ACCEPTED,
      summary="Extend the organization's trial (a billing command: Stripe is told by the worker)",
      description="Answers 202 with the command; follow it at `Location` (`/admin/v1/commands/{id}`). The "
                  "organization's members see its `command.updated` events on the relay. The Idempotency-Key "
                  "belongs to the admin: a retry with it answers the first command (never a second "
                  "extension); without one, a second request while one is queued or running is 409 "
                  "`trial_extension_pending`.",
      raises=[CustomerNotFound, NoTrial, TrialExtensionPending, TrialTooLong, IdempotencyKeyReused],
      opt=audit("customers.extend_trial", "organization", resource="org_id", org="org_id"))
async def extend_trial(request: Request, admin: AdminCaller, org_id: uuid.UUID, data: TrialExtensionBody,
                       idempotency_key: IdempotencyKey = None) -> Response[Accepted]:
    async with admin("customers.extend_trial") as (session, who, entry):
        # Admin commands have no tenant sender (user_id is null): the key is scoped to the admin by its text.
        idempotency = (Idempotency(f"admin:{who.id}:{idempotency_key}", fingerprint(request, data))
                       if idempotency_key else None)
        command = await customers.extend_trial(session, org_id, days=data.days, admin_id=who.id,
                                               idempotency=idempotency)
        entry.status_code = HTTP_202_ACCEPTED
        entry.details = {"days": data.days, "command_id": str(command.id),
                         "trial_end": command.payload["trial_end"]}
    return Response(Accepted(command_id=command.id, status=command.status), status_code=HTTP_202_ACCEPTED,
                    headers={"Location": f"/admin/v1/commands/{command.id}"})


@get("/commands/{command_id:uuid}", summary="A command of any organization: status, result or error",
     raises=[CommandNotFound], opt=audit("commands.read", "command", resource="command_id"))
async def get_command(admin: AdminCaller, command_id: uuid.UUID) -> CommandOut:
    async with admin("customers.read") as (session, _, entry):
        command = await customers.command(session, command_id)
        entry.org_id = command.org_id
    return out(command, CommandOut)


trials_router = Router("/admin/v1", tags=["admin"], route_handlers=[extend_trial, get_command])
