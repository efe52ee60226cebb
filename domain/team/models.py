from __future__ import annotations

import uuid
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import DateTime
from sqlalchemy.dialects.postgresql import JSONB
from sqlalchemy.orm import Mapped, mapped_column

from domain.models import Base, Identified, Timestamped

PENDING, ACCEPTED, REVOKED = "pending", "accepted", "revoked"

# Every action the activity log records.
ACTIONS = ("invitation.sent", "invitation.revoked", "invitation.accepted", "member.role_changed",
           "member.removed", "ownership.transferred",
           # Billing writes here too: the log is the organization's, not only the team's.
           "billing.subscribed", "billing.subscription_changed", "billing.payment_failed", "billing.invoice_paid",
           "billing.restricted", "billing.restored")


class Invitation(Identified, Timestamped, Base):
    """An email invited into an organization with a role; the token's hash arrives when the email is sent."""

    __tablename__ = "invitations"
    org_id: Mapped[uuid.UUID]
    email: Mapped[str]
    role: Mapped[str]
    status: Mapped[str] = mapped_column(default=PENDING)
    token_hash: Mapped[str | None]
    invited_by: Mapped[uuid.UUID | None]
    expires_at: Mapped[datetime] = mapped_column(DateTime(timezone=True))
    accepted_by: Mapped[uuid.UUID | None]
    accepted_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
    revoked_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))


class ActivityLog(Identified, Timestamped, Base):
    """One change to the team, written in the transaction that made it."""

    __tablename__ = "activity_logs"
    org_id: Mapped[uuid.UUID]
    actor_user_id: Mapped[uuid.UUID | None]
    action: Mapped[str]
    subject_user_id: Mapped[uuid.UUID | None]
    subject_email: Mapped[str | None]
    details: Mapped[dict[str, Any]] = mapped_column(JSONB, default=dict)
    ip: Mapped[str | None]


@dataclass(frozen=True)
class TeamMember:
    user_id: uuid.UUID
    email: str
    name: str
    role: str
    joined_at: datetime


@dataclass(frozen=True)
class Actor:
    """Who is changing the team, from where (the edge passes the client's address)."""

    user_id: uuid.UUID
    org_id: uuid.UUID
    role: str
    ip: str | None = None
