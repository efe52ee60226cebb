from __future__ import annotations

import uuid
from datetime import datetime

from sqlalchemy import DateTime, ForeignKey, func
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
    # None until the person follows the link emailed to `email` (see domain/accounts/lifecycle.py).
    email_verified_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))


class Membership(Timestamped, Base):
    __tablename__ = "memberships"
    org_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("organizations.id"), primary_key=True)
    user_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("users.id"), primary_key=True)
    role: Mapped[str]


class RefreshToken(Identified, Timestamped, Base):
    """One issued refresh token; `family_id` groups one login's rotations."""

    __tablename__ = "refresh_tokens"
    family_id: Mapped[uuid.UUID]
    org_id: Mapped[uuid.UUID | None]  # None: a person with no organization (they may create one or join)
    user_id: Mapped[uuid.UUID]
    expires_at: Mapped[datetime] = mapped_column(DateTime(timezone=True))
    used_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
    revoked_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))


class AccountToken(Identified, Timestamped, Base):
    """One emailed link (verify an address, reset a password, "this wasn't me"): single-use by `used_at`."""

    __tablename__ = "account_tokens"
    user_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("users.id"))
    purpose: Mapped[str]
    email: Mapped[str | None]
    token_hash: Mapped[str]
    expires_at: Mapped[datetime] = mapped_column(DateTime(timezone=True))
    used_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))


class KnownDevice(Base):
    """Where a person has signed in from: a hash of (user agent family, network)."""

    __tablename__ = "known_devices"
    user_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("users.id"), primary_key=True)
    fingerprint: Mapped[str] = mapped_column(primary_key=True)
    label: Mapped[str]
    first_seen_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), server_default=func.now())
    last_seen_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), server_default=func.now())
