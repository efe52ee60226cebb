from __future__ import annotations

import uuid
from datetime import datetime

from sqlalchemy import DateTime, ForeignKey
from sqlalchemy.orm import Mapped, mapped_column

from domain.models import Base, Identified, Timestamped


class Organization(Identified, Timestamped, Base):
    __tablename__ = "organizations"
    name: Mapped[str]
    # Set by the admin realm: a suspended organization's members are refused everywhere.
    suspended_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
    suspend_reason: Mapped[str | None]
    # Granted by the admin realm on top of the plan's (billing adds them to its limits).
    extra_seats: Mapped[int] = mapped_column(default=0)
    extra_agents: Mapped[int] = mapped_column(default=0)


class User(Identified, Timestamped, Base):
    __tablename__ = "users"
    email: Mapped[str]
    name: Mapped[str]
    password_hash: Mapped[str]


class Membership(Timestamped, Base):
    __tablename__ = "memberships"
    org_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("organizations.id"), primary_key=True)
    user_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("users.id"), primary_key=True)
    role: Mapped[str]


class RefreshToken(Identified, Timestamped, Base):
    """One issued refresh token; `family_id` groups one login's rotations."""

    __tablename__ = "refresh_tokens"
    family_id: Mapped[uuid.UUID]
    org_id: Mapped[uuid.UUID]
    user_id: Mapped[uuid.UUID]
    expires_at: Mapped[datetime] = mapped_column(DateTime(timezone=True))
    used_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
    revoked_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
