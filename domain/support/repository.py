"""All SQL of support. A customer's transaction is tenant-scoped: row-level security confines it to
its organization and hides internal notes; an admin's is system-scoped and sees every ticket."""

from __future__ import annotations

import uuid
from datetime import datetime

from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncSession

from domain.support.models import Ticket, TicketMessage

_TICKET = ("id, org_id, created_by, subject, status, priority, assignee_id, assignee_email, created_at, "
           "updated_at")
_MESSAGE = "id, ticket_id, author_user_id, author_admin_id, body, internal, created_at"


async def insert_ticket(session: AsyncSession, ticket: Ticket) -> None:
    await session.execute(text(f"""
        insert into support_tickets ({_TICKET}) values (:id, :org_id, :created_by, :subject, :status, :priority,
            :assignee_id, :assignee_email, :created_at, :updated_at)
    """), ticket.__dict__)


async def insert_message(session: AsyncSession, org_id: uuid.UUID, message: TicketMessage) -> None:
    await session.execute(text(f"""
        insert into ticket_messages (org_id, {_MESSAGE}) values (:org_id, :id, :ticket_id, :author_user_id,
            :author_admin_id, :body, :internal, :created_at)
    """), {**message.__dict__, "org_id": org_id})


async def ticket(session: AsyncSession, ticket_id: uuid.UUID, *, for_update: bool = False) -> Ticket | None:
    lock = " for update" if for_update else ""
    row = (await session.execute(text(f"select {_TICKET} from support_tickets where id = :i{lock}"),
                                 {"i": ticket_id})).first()
    return Ticket(*row) if row else None


async def messages(session: AsyncSession, ticket_id: uuid.UUID) -> list[TicketMessage]:
    rows = await session.execute(text(
        f"select {_MESSAGE} from ticket_messages where ticket_id = :t order by created_at, id"), {"t": ticket_id})
    return [TicketMessage(*row) for row in rows]


async def update_ticket(session: AsyncSession, ticket_id: uuid.UUID, **changes) -> Ticket:
    sets = ", ".join(f"{column} = :{column}" for column in changes)
    row = (await session.execute(text(
        f"update support_tickets set {sets}, updated_at = now() where id = :ticket_id returning {_TICKET}"),
        {**changes, "ticket_id": ticket_id})).one()
    return Ticket(*row)


async def tickets_of(session: AsyncSession, org_id: uuid.UUID, *, before: tuple[datetime, uuid.UUID] | None,
                     limit: int) -> list[Ticket]:
    """The organization's tickets, newest first, after the keyset `before`."""
    rows = await session.execute(text(f"""
        select {_TICKET} from support_tickets where org_id = :o
          and (cast(:at as timestamptz) is null or (created_at, id) < (:at, :id))
        order by created_at desc, id desc limit :n
    """), {"o": org_id, "at": before[0] if before else None, "id": before[1] if before else None, "n": limit})
    return [Ticket(*row) for row in rows]


async def queue(session: AsyncSession, *, statuses: tuple[str, ...], assignee: uuid.UUID | None, unassigned: bool,
                priority: str | None, after: tuple[datetime, uuid.UUID] | None, limit: int) -> list[Ticket]:
    """Every organization's tickets (system scope), oldest first."""
    rows = await session.execute(text(f"""
        select {_TICKET} from support_tickets
        where status = any(:statuses)
          and (cast(:assignee as uuid) is null or assignee_id = :assignee)
          and (not :unassigned or assignee_id is null)
          and (cast(:priority as text) is null or priority = :priority)
          and (cast(:at as timestamptz) is null or (created_at, id) > (:at, :id))
        order by created_at, id limit :n
    """), {"statuses": list(statuses), "assignee": assignee, "unassigned": unassigned, "priority": priority,
           "at": after[0] if after else None, "id": after[1] if after else None, "n": limit})
    return [Ticket(*row) for row in rows]


async def open_counts(session: AsyncSession) -> tuple[int, int]:
    """(open or pending, of which unassigned) across every organization (system scope)."""
    row = (await session.execute(text("""
        select count(*), count(*) filter (where assignee_id is null) from support_tickets
        where status in ('open', 'pending')
    """))).one()
    return row[0], row[1]


async def organization_name(session: AsyncSession, org_id: uuid.UUID) -> str:
    return (await session.execute(text("select name from organizations where id = :o"), {"o": org_id})).scalar_one()
