from __future__ import annotations

import uuid
from datetime import datetime

from sqlalchemy import DateTime
from sqlalchemy.orm import Mapped, mapped_column

from domain.models import Base, Identified, Timestamped, utcnow


class Agent(Identified, Timestamped, Base):
    __tablename__ = "agents"
    org_id: Mapped[uuid.UUID]
    name: Mapped[str]
    description: Mapped[str] = mapped_column(default="")
    model: Mapped[str]
    instructions: Mapped[str] = mapped_column(default="")
    status: Mapped[str] = mapped_column(default="draft")
    version: Mapped[int] = mapped_column(default=1)
    deployed_version: Mapped[int | None]
    updated_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), default=utcnow, onupdate=utcnow)


class Conversation(Identified, Timestamped, Base):
    __tablename__ = "conversations"
    org_id: Mapped[uuid.UUID]
    agent_id: Mapped[uuid.UUID]
    title: Mapped[str] = mapped_column(default="")


class Message(Identified, Timestamped, Base):
    __tablename__ = "messages"
    org_id: Mapped[uuid.UUID]
    conversation_id: Mapped[uuid.UUID]
    role: Mapped[str]
    content: Mapped[str]


class AgentError(Identified, Timestamped, Base):
    """An error an agent reported at run time (the runtime, or a client on its behalf)."""

    __tablename__ = "agent_errors"
    org_id: Mapped[uuid.UUID]
    agent_id: Mapped[uuid.UUID]
    code: Mapped[str]
    message: Mapped[str]
