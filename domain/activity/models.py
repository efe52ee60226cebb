from __future__ import annotations

import uuid
from typing import Any

from sqlalchemy.dialects.postgresql import JSONB
from sqlalchemy.orm import Mapped, mapped_column

from domain.models import Base, Identified, Timestamped

# Every action the activity log records, whichever capability writes it.
ACTIONS = ("invitation.sent", "invitation.revoked", "invitation.accepted", "member.role_changed",
           "member.removed", "ownership.transferred",
           "billing.subscribed", "billing.subscription_changed", "billing.payment_failed", "billing.invoice_paid",
           "billing.restricted", "billing.restored",
           # Suspicious activity on a person's account (domain/notifications/security.py).
           "security.new_sign_in", "security.failed_sign_ins", "security.refresh_token_reused", "security.not_me")


class ActivityLog(Identified, Timestamped, Base):
    """One change to the organization, written in the transaction that made it (append-only)."""

    __tablename__ = "activity_logs"
    org_id: Mapped[uuid.UUID]
    actor_user_id: Mapped[uuid.UUID | None]
    action: Mapped[str]
    subject_user_id: Mapped[uuid.UUID | None]
    subject_email: Mapped[str | None]
    details: Mapped[dict[str, Any]] = mapped_column(JSONB, default=dict)
    ip: Mapped[str | None]
