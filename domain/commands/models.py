from __future__ import annotations

import uuid
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import DateTime
from sqlalchemy.dialects.postgresql import JSONB
from sqlalchemy.orm import Mapped, mapped_column

from domain.jobs import JobKind
from domain.models import Base, Identified, Timestamped, utcnow

QUEUED, RUNNING, SUCCEEDED, FAILED = "queued", "running", "succeeded", "failed"
FINISHED = (SUCCEEDED, FAILED)


@dataclass(frozen=True)
class CommandKind:
    """A kind of command and the actor that carries it out, named in one place."""

    name: str  # what clients see, e.g. "agent.deploy"
    queue: str
    actor: str  # "<capability>.<verb>"

    @property
    def job(self) -> JobKind:
        return JobKind(self.actor, queue=self.queue)


@dataclass(frozen=True)
class Idempotency:
    """A request's Idempotency-Key and a fingerprint of the request itself.

    The same key with the same fingerprint is a retry: it gets the command the
    first request created. The same key with another fingerprint is a mistake
    the client must hear about (409), not a second request silently dropped.
    """

    key: str
    fingerprint: str


class Command(Identified, Timestamped, Base):
    """A write with side effects, accepted by the edge and carried out by a worker."""

    __tablename__ = "commands"
    org_id: Mapped[uuid.UUID]
    user_id: Mapped[uuid.UUID | None]
    kind: Mapped[str]
    status: Mapped[str] = mapped_column(default=QUEUED)
    queue: Mapped[str]
    actor: Mapped[str]
    payload: Mapped[dict[str, Any]] = mapped_column(JSONB, default=dict)
    result: Mapped[dict[str, Any] | None] = mapped_column(JSONB)
    error: Mapped[str | None]
    attempts: Mapped[int] = mapped_column(default=0)
    idempotency_key: Mapped[str | None]
    request_hash: Mapped[str | None]  # the fingerprint of the request that created it (see `Idempotency`)
    request_id: Mapped[str | None]  # the edge request that accepted it (`domain.correlation`): one id finds its path
    updated_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), default=utcnow)
    started_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
    finished_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))

    def as_event(self) -> dict[str, Any]:
        """What `command.updated` carries (the same fields GET /v1/commands/{id} returns)."""
        return {"id": str(self.id), "kind": self.kind, "status": self.status, "result": self.result,
                "error": self.error, "attempts": self.attempts, "updated_at": self.updated_at.isoformat(),
                "request_id": self.request_id}
