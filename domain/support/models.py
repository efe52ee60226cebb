"""Support tickets and their messages, as plain values (SQL in repository.py)."""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from datetime import datetime

STATUSES = ("open", "pending", "resolved", "closed")
PRIORITIES = ("low", "normal", "high", "urgent")
# Where an admin may move a ticket: pending means "waiting for the customer"; a resolved ticket
# may be reopened; closed is final (a customer opens a new ticket).
TRANSITIONS = {"open": {"pending", "resolved", "closed"}, "pending": {"open", "resolved", "closed"},
               "resolved": {"open", "closed"}, "closed": set()}


@dataclass(frozen=True)
class Ticket:
    id: uuid.UUID
    org_id: uuid.UUID
    created_by: uuid.UUID
    subject: str
    status: str
    priority: str
    assignee_id: uuid.UUID | None
    assignee_email: str | None
    created_at: datetime
    updated_at: datetime


@dataclass(frozen=True)
class TicketMessage:
    id: uuid.UUID
    ticket_id: uuid.UUID
    author_user_id: uuid.UUID | None
    author_admin_id: uuid.UUID | None
    body: str
    internal: bool
    created_at: datetime


@dataclass(frozen=True)
class Thread:
    ticket: Ticket
    messages: list[TicketMessage]
