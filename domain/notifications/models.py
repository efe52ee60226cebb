from __future__ import annotations

import uuid
from datetime import datetime
from typing import Any

from sqlalchemy import DateTime
from sqlalchemy.dialects.postgresql import JSONB
from sqlalchemy.orm import Mapped, mapped_column

from domain.models import Base, Identified, Timestamped


class Notification(Identified, Timestamped, Base):
    __tablename__ = "notifications"
    org_id: Mapped[uuid.UUID]
    user_id: Mapped[uuid.UUID]
    type: Mapped[str]
    title: Mapped[str]
    body: Mapped[str]
    data: Mapped[dict[str, Any]] = mapped_column(JSONB, default=dict)
    read_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))

    def as_event(self) -> dict[str, Any]:
        """What `notification.created` carries and the API lists."""
        return {"id": str(self.id), "type": self.type, "title": self.title, "body": self.body,
                "data": self.data, "read_at": self.read_at.isoformat() if self.read_at else None,
                "created_at": self.created_at.isoformat()}
