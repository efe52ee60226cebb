"""What the admin realm reads and writes, as plain values (its SQL is in repository.py)."""

from __future__ import annotations

import uuid
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any


@dataclass(frozen=True)
class AdminUser:
    id: uuid.UUID
    email: str
    name: str
    role: str
    password_hash: str
    totp_secret: str
    disabled_at: datetime | None
    created_at: datetime


@dataclass(frozen=True)
class AdminPrincipal:
    """The verified claims of an admin access token."""

    admin_id: uuid.UUID
    session_id: uuid.UUID


@dataclass(frozen=True)
class Admin:
    """The caller as the database sees them right now: live session, enabled admin."""

    id: uuid.UUID
    email: str
    role: str
    session_id: uuid.UUID


@dataclass(frozen=True)
class AdminSession:
    id: uuid.UUID
    ip: str | None
    user_agent: str | None
    created_at: datetime
    last_used_at: datetime
    expires_at: datetime
    revoked_at: datetime | None


@dataclass(frozen=True)
class AdminTokens:
    access_token: str
    refresh_token: str
    expires_in: int
    admin_id: uuid.UUID
    role: str
    token_type: str = "bearer"


@dataclass(frozen=True)
class MfaChallenge:
    mfa_token: str
    expires_in: int


@dataclass
class AuditEntry:
    """One line of the audit log before it is written; the edge fills what it knows as the request goes."""

    action: str
    outcome: str = "success"
    admin_id: uuid.UUID | None = None
    admin_email: str | None = None
    resource_type: str | None = None
    resource_id: str | None = None
    org_id: uuid.UUID | None = None
    ip: str | None = None
    user_agent: str | None = None
    request_id: str | None = None
    status_code: int | None = None
    details: dict[str, Any] = field(default_factory=dict)


@dataclass(frozen=True)
class AuditRow:
    seq: int
    id: uuid.UUID
    created_at: datetime
    admin_id: uuid.UUID | None
    admin_email: str | None
    action: str
    resource_type: str | None
    resource_id: str | None
    org_id: uuid.UUID | None
    ip: str | None
    user_agent: str | None
    request_id: str | None
    outcome: str
    status_code: int | None
    details: dict[str, Any]
    hash: str
