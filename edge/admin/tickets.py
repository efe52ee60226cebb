"""The support queue: every organization's tickets, assignment, status, public replies and internal notes."""

from __future__ import annotations

import uuid
from typing import Annotated, Literal

import msgspec
from litestar import Router, get, patch, post
from litestar.params import Parameter
from litestar.status_codes import HTTP_201_CREATED

from domain.admin.errors import AdminNotAssignable
from domain.admin.service import AdminService
from domain.errors import InvalidInput
from domain.support import service as support
from domain.support.errors import InvalidTransition, TicketClosed, TicketNotFound
from edge.admin.guard import AdminCaller, audit
from edge.routes.support import MessageOut, ReplyBody, TicketOut
from edge.schemas import Body, Cursor, Limit, out

Status = Literal["open", "pending", "resolved", "closed"]
Priority = Literal["low", "normal", "high", "urgent"]


class QueueTicket(TicketOut):
    org_id: uuid.UUID
    assignee_id: uuid.UUID | None
    assignee_email: str | None


class QueuePage(msgspec.Struct):
    items: list[QueueTicket]
    next_cursor: str | None


class TicketPatch(Body):
    assignee_id: Annotated[uuid.UUID | None, msgspec.Meta(description="An admin to assign to.")] = None
    unassign: bool = False
    status: Status | None = None
    priority: Priority | None = None


class AdminReplyBody(ReplyBody):
    internal: Annotated[bool, msgspec.Meta(description="An internal note: never shown to the customer.")] = False


class AdminThreadOut(msgspec.Struct):
    ticket: QueueTicket
    messages: list[MessageOut]


@get("/", summary="The queue: open and pending tickets unless `status` says otherwise, oldest first",
     raises=[InvalidInput], opt=audit("tickets.list", "ticket"))
async def queue(admin: AdminCaller, status: Status | None = None, assignee: uuid.UUID | None = None,
                unassigned: Annotated[bool, Parameter(description="Only tickets nobody is assigned.")] = False,
                priority: Priority | None = None, cursor: Cursor = None, limit: Limit = 50) -> QueuePage:
    async with admin("tickets.read") as (session, _, _entry):
        page = await support.queue(session, status=status, assignee=assignee, unassigned=unassigned,
                                   priority=priority, cursor=cursor, limit=limit)
    return QueuePage([out(t, QueueTicket) for t in page.items], page.next_cursor)


@get("/{ticket_id:uuid}", summary="A ticket with its whole thread, internal notes included",
     raises=[TicketNotFound], opt=audit("tickets.read", "ticket", resource="ticket_id"))
async def read(admin: AdminCaller, ticket_id: uuid.UUID) -> AdminThreadOut:
    async with admin("tickets.read") as (session, _, entry):
        found = await support.thread(session, ticket_id)
        entry.org_id = found.ticket.org_id
    return AdminThreadOut(ticket=out(found.ticket, QueueTicket),
                          messages=[out(m, MessageOut) for m in found.messages])


@patch("/{ticket_id:uuid}", summary="Assign, move the status (open → pending → resolved → closed), set priority",
       raises=[TicketNotFound, InvalidTransition, AdminNotAssignable],
       opt=audit("tickets.update", "ticket", resource="ticket_id"))
async def update(admin: AdminCaller, admin_service: AdminService, ticket_id: uuid.UUID,
                 data: TicketPatch) -> QueueTicket:
    async with admin("tickets.write") as (session, _, entry):
        entry.details = {k: v for k, v in msgspec.to_builtins(data).items() if v not in (None, False)}
        assignee = None
        if data.assignee_id is not None:
            assignee = (data.assignee_id, await admin_service.assignable_email(session, data.assignee_id))
        ticket = await support.update(session, ticket_id, status=data.status, priority=data.priority,
                                      assignee=assignee, unassign=data.unassign)
        entry.org_id = ticket.org_id
    return out(ticket, QueueTicket)


@post("/{ticket_id:uuid}/replies", status_code=HTTP_201_CREATED,
      summary="Answer the customer (notified in-app and by email) or add an internal note",
      raises=[TicketNotFound, TicketClosed], opt=audit("tickets.reply", "ticket", resource="ticket_id"))
async def reply(admin: AdminCaller, ticket_id: uuid.UUID, data: AdminReplyBody) -> MessageOut:
    async with admin("tickets.write") as (session, who, entry):
        message = await support.admin_reply(session, who.id, ticket_id, data.body, internal=data.internal)
        entry.details = {"internal": data.internal, "message_id": str(message.id)}
        entry.org_id = (await support.thread(session, ticket_id)).ticket.org_id
    return out(message, MessageOut)


admin_tickets_router = Router("/admin/v1/tickets", tags=["admin"], route_handlers=[queue, read, update, reply])
