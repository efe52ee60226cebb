"""Support, the customer's side: open a ticket, list them, read one with its thread, reply."""

from __future__ import annotations

import uuid
from datetime import datetime
from typing import Annotated, Literal

import msgspec
from litestar import Router, get, post
from litestar.status_codes import HTTP_201_CREATED

from domain.errors import InvalidInput
from domain.support import service as support
from domain.support.errors import TicketClosed, TicketNotFound
from edge.auth import Tenant
from edge.schemas import Body, Clean, Cursor, Limit, out
from objecta.settings import Settings

Subject = Annotated[str, Clean, msgspec.Meta(min_length=1, max_length=200)]
MessageBody = Annotated[str, Clean, msgspec.Meta(min_length=1, max_length=20_000)]


class TicketCreate(Body):
    subject: Subject
    body: MessageBody
    priority: Literal["low", "normal", "high", "urgent"] = "normal"


class ReplyBody(Body):
    body: MessageBody


class TicketOut(msgspec.Struct):
    id: uuid.UUID
    subject: str
    status: Annotated[str, msgspec.Meta(description="`open`, `pending` (waiting for you), `resolved` or `closed`.")]
    priority: str
    created_by: uuid.UUID
    created_at: datetime
    updated_at: datetime


class MessageOut(msgspec.Struct):
    id: uuid.UUID
    author_user_id: Annotated[uuid.UUID | None, msgspec.Meta(description="Set for a message of your organization.")]
    author_admin_id: Annotated[uuid.UUID | None, msgspec.Meta(description="Set for an answer from support.")]
    body: str
    internal: bool
    created_at: datetime


class ThreadOut(msgspec.Struct):
    ticket: TicketOut
    messages: list[MessageOut]


class TicketPage(msgspec.Struct):
    items: list[TicketOut]
    next_cursor: str | None


def thread_out(found) -> ThreadOut:
    return ThreadOut(out(found.ticket, TicketOut), [out(m, MessageOut) for m in found.messages])


@post("/tickets", status_code=HTTP_201_CREATED, summary="Open a support ticket")
async def open_ticket(tenant: Tenant, data: TicketCreate) -> ThreadOut:
    async with tenant("support.write") as (session, member):
        found = await support.open_ticket(session, member.principal.org_id, member.principal.user_id,
                                          subject=data.subject, body=data.body, priority=data.priority)
    return thread_out(found)


@get("/tickets", summary="The organization's tickets, newest first", raises=[InvalidInput])
async def list_tickets(tenant: Tenant, cursor: Cursor = None, limit: Limit = 50) -> TicketPage:
    async with tenant("org.read") as (session, member):
        page = await support.tickets(session, member.principal.org_id, cursor=cursor, limit=limit)
    return TicketPage([out(t, TicketOut) for t in page.items], page.next_cursor)


@get("/tickets/{ticket_id:uuid}", summary="A ticket with its thread (support's internal notes are never shown)",
     raises=[TicketNotFound])
async def read_ticket(tenant: Tenant, ticket_id: uuid.UUID) -> ThreadOut:
    async with tenant("org.read") as (session, _):
        found = await support.thread(session, ticket_id)
    return thread_out(found)


@post("/tickets/{ticket_id:uuid}/replies", status_code=HTTP_201_CREATED,
      summary="Reply on a ticket (reopens it; its assignee is emailed)", raises=[TicketNotFound, TicketClosed])
async def reply(tenant: Tenant, settings: Settings, ticket_id: uuid.UUID, data: ReplyBody) -> MessageOut:
    async with tenant("support.write") as (session, member):
        message = await support.customer_reply(session, member.principal.org_id, member.principal.user_id,
                                               ticket_id, data.body, admin_url=settings.admin.url,
                                               app_url=settings.http.app_url)
    return out(message, MessageOut)


support_router = Router("/v1/support", tags=["support"], route_handlers=[open_ticket, list_tickets, read_ticket,
                                                                          reply])
