from __future__ import annotations

import uuid
from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import DateTime
from sqlalchemy.orm import Mapped, mapped_column

from domain.models import Base, Identified, Timestamped

PENDING, ACCEPTED, REVOKED = "pending", "accepted", "revoked"



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
