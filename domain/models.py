"""Column types and mixins shared by every capability's models."""

from __future__ import annotations

import uuid
from datetime import datetime, timezone

from sqlalchemy import DateTime, func
from sqlalchemy.orm import Mapped, mapped_column

from domain.db import Base


def new_id() -> uuid.UUID:
    return uuid.uuid4()


class Identified:
    id: Mapped[uuid.UUID] = mapped_column(primary_key=True, default=new_id)


def utcnow() -> datetime:
    return datetime.now(timezone.utc)


class Timestamped:
    # Set in Python as well as by the server, so a new row needs no re-read.
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), default=utcnow, server_default=func.now())


__all__ = ["Base", "Identified", "Timestamped", "new_id", "utcnow"]
