"""Support tickets: the customer's side (tenant scope) and the admins' side (system scope).

A customer opens a ticket, reads it with its public thread (internal notes are
hidden by row-level security, not by a filter here) and replies. An admin sees
the queue of every organization, assigns, moves the status, answers publicly
(the customer is notified in-app and by email) or adds an internal note.
A customer's reply emails the assignee. Notifications and emails leave after
commit through `notifications.notify` and `mail.send_later`.
"""

from __future__ import annotations

import uuid
from sqlalchemy.ext.asyncio import AsyncSession

from domain import pagination
from domain.mail import service as mail
from domain.models import utcnow
from domain.notifications import service as notifications
from domain.support import repository
from domain.support.errors import InvalidTransition, TicketClosed, TicketNotFound
from domain.support.models import STATUSES, TRANSITIONS, Thread, Ticket, TicketMessage

EXCERPT = 300


def _excerpt(body: str) -> str:
    return body if len(body) <= EXCERPT else body[:EXCERPT - 1] + "…"


def ticket_ref(ticket_id: uuid.UUID) -> str:
    """A short reference for subjects and people on the phone."""
    return str(ticket_id)[:8]


async def _ticket(session: AsyncSession, ticket_id: uuid.UUID, *, for_update: bool = False) -> Ticket:
    found = await repository.ticket(session, ticket_id, for_update=for_update)
    if found is None:
        raise TicketNotFound("ticket not found")
    return found


# The customer's side (tenant scope) ------------------------------------------------------------

async def open_ticket(session: AsyncSession, org_id: uuid.UUID, user_id: uuid.UUID, *, subject: str, body: str,
                      priority: str = "normal") -> Thread:
    now = utcnow()
    ticket = Ticket(id=uuid.uuid4(), org_id=org_id, created_by=user_id, subject=subject.strip() or subject,
                    status="open", priority=priority, assignee_id=None, assignee_email=None, created_at=now,
                    updated_at=now)
    await repository.insert_ticket(session, ticket)
    message = TicketMessage(uuid.uuid4(), ticket.id, user_id, None, body, False, now)
    await repository.insert_message(session, org_id, message)
    return Thread(ticket, [message])


async def tickets(session: AsyncSession, org_id: uuid.UUID, *, cursor: str | None,
                  limit: int) -> pagination.Page[Ticket]:
    """The organization's tickets, newest first."""
    before = pagination.decode_cursor(cursor) if cursor else None
    rows = await repository.tickets_of(session, org_id, before=before, limit=pagination.check_limit(limit) + 1)
    return pagination.page(rows, limit)


async def thread(session: AsyncSession, ticket_id: uuid.UUID) -> Thread:
    """The ticket and its messages: a customer's transaction sees the public ones only (RLS)."""
    ticket = await _ticket(session, ticket_id)
    return Thread(ticket, await repository.messages(session, ticket_id))


async def customer_reply(session: AsyncSession, org_id: uuid.UUID, user_id: uuid.UUID, ticket_id: uuid.UUID,
                         body: str, *, admin_url: str, app_url: str) -> TicketMessage:
    """A reply from the organization: reopens a pending or resolved ticket; emails the assignee."""
    ticket = await _ticket(session, ticket_id, for_update=True)
    if ticket.status == "closed":
        raise TicketClosed("this ticket is closed; open a new one")
    message = TicketMessage(uuid.uuid4(), ticket.id, user_id, None, body, False, utcnow())
    await repository.insert_message(session, org_id, message)
    await repository.update_ticket(session, ticket.id, status="open")
    if ticket.assignee_email:
        mail.send_later(session, dedupe_key=f"support-reply:{message.id}", to=ticket.assignee_email,
                        template="support_customer_reply", context={
                            "ticket_ref": ticket_ref(ticket.id), "subject": ticket.subject, "body": body,
                            "organization_name": await repository.organization_name(session, org_id),
                            "admin_url": f"{admin_url}/tickets/{ticket.id}", "app_url": app_url})
    return message


# The admins' side (system scope) ---------------------------------------------------------------

async def queue(session: AsyncSession, *, status: str | None, assignee: uuid.UUID | None, unassigned: bool,
                priority: str | None, cursor: str | None, limit: int) -> pagination.Page[Ticket]:
    """Every organization's tickets, oldest first; open and pending unless `status` says otherwise."""
    after = pagination.decode_cursor(cursor) if cursor else None
    statuses = (status,) if status else ("open", "pending")
    rows = await repository.queue(session, statuses=statuses, assignee=assignee, unassigned=unassigned,
                                  priority=priority, after=after, limit=pagination.check_limit(limit) + 1)
    return pagination.page(rows, limit)


async def update(session: AsyncSession, ticket_id: uuid.UUID, *, status: str | None = None,
                 priority: str | None = None, assignee: tuple[uuid.UUID, str] | None = None,
                 unassign: bool = False) -> Ticket:
    """Assign (admin id and email), move the status along TRANSITIONS, set the priority."""
    ticket = await _ticket(session, ticket_id, for_update=True)
    changes: dict = {}
    if status is not None and status != ticket.status:
        if status not in STATUSES or status not in TRANSITIONS[ticket.status]:
            raise InvalidTransition(f"a {ticket.status} ticket cannot become {status}",
                                    details={"from": ticket.status, "to": status,
                                             "allowed": sorted(TRANSITIONS[ticket.status])})
        changes["status"] = status
    if priority is not None:
        changes["priority"] = priority
    if assignee is not None:
        changes["assignee_id"], changes["assignee_email"] = assignee
    elif unassign:
        changes["assignee_id"] = changes["assignee_email"] = None
    if not changes:
        return ticket
    updated = await repository.update_ticket(session, ticket.id, **changes)
    if "status" in changes and changes["status"] in ("resolved", "closed"):
        notifications.notify(session, ticket.org_id, "support.ticket_updated",
                             {"subject": ticket.subject, "status": changes["status"], "ticket_id": str(ticket.id)},
                             recipients=[ticket.created_by])
    return updated


async def admin_reply(session: AsyncSession, admin_id: uuid.UUID, ticket_id: uuid.UUID, body: str, *,
                      internal: bool) -> TicketMessage:
    """A public answer (notifies whoever opened the ticket; an open ticket becomes pending) or an internal note."""
    ticket = await _ticket(session, ticket_id, for_update=True)
    if ticket.status == "closed" and not internal:
        raise TicketClosed("this ticket is closed")
    message = TicketMessage(uuid.uuid4(), ticket.id, None, admin_id, body, internal, utcnow())
    await repository.insert_message(session, ticket.org_id, message)
    if not internal:
        if ticket.status == "open":
            await repository.update_ticket(session, ticket.id, status="pending")
        notifications.notify(session, ticket.org_id, "support.ticket_replied",
                             {"subject": ticket.subject, "excerpt": _excerpt(body), "ticket_id": str(ticket.id)},
                             recipients=[ticket.created_by])
    return message


async def open_counts(session: AsyncSession) -> tuple[int, int]:
    """(open or pending tickets, of which unassigned), every organization (system scope)."""
    return await repository.open_counts(session)
