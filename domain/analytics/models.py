"""What analytics stores and passes around.

`StoredEvent` is how a validated batch travels to Postgres: encoded as JSON
arrays and expanded there by one statement (repository.STORE).
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from datetime import date, datetime

import msgspec
from sqlalchemy import DateTime
from sqlalchemy.orm import Mapped, mapped_column

from domain.models import Base, Identified, Timestamped

MAX_EVENTS = 1_000  # per request
MAX_EVENT_ID_LENGTH = 128
NAME_PATTERN = r"^[A-Za-z][A-Za-z0-9_.:-]{0,99}$"
MAX_PROPERTIES_BYTES = 8 * 1024  # encoded as JSON
MAX_FUTURE_SECONDS = 300  # a client's clock may run this far ahead of ours
# A batch of MAX_EVENTS events at their largest fits in this (properties dominate).
MAX_BATCH_BYTES = 10 * 1024 * 1024
MAX_REPORT_DAYS = 366

# What the platform itself emits; a client may not send these names, so the
# counts of messages, conversations, deploys and errors are the platform's own.
MESSAGE, CONVERSATION, DEPLOY, AGENT_ERROR = "message.created", "conversation.created", "agent.deployed", "agent.error"
PLATFORM_EVENTS = (MESSAGE, CONVERSATION, DEPLOY, AGENT_ERROR)


class StoredEvent(msgspec.Struct, array_like=True, gc=False):  # no cycles; thousands a batch
    """One event as it is sent to Postgres: validated, occurred_at always set."""

    event_id: str
    name: str
    agent_id: uuid.UUID | None
    occurred_at: datetime
    # Raw JSON (`null` when absent): copied into Postgres without being decoded.
    properties: msgspec.Raw = msgspec.Raw(b"null")


@dataclass(frozen=True)
class Sender:
    """Who sends a batch: a person (user_id) or an organization API key (api_key_id)."""

    org_id: uuid.UUID
    user_id: uuid.UUID | None = None
    api_key_id: uuid.UUID | None = None


@dataclass(frozen=True)
class Accepted:
    batch_id: uuid.UUID
    accepted: int


@dataclass(frozen=True)
class Ingested:
    """What storing a batch did: the newly stored events grouped for the counters."""

    batch_id: uuid.UUID
    org_id: uuid.UUID
    counts: list[list]  # [[day, hour, name, agent_id or "", n], ...]

    @property
    def stored(self) -> int:
        return sum(row[4] for row in self.counts)


@dataclass(frozen=True)
class Period:
    first: date
    last: date

    @property
    def days(self) -> int:
        return (self.last - self.first).days + 1


class ApiKey(Identified, Timestamped, Base):
    __tablename__ = "api_keys"
    org_id: Mapped[uuid.UUID]
    name: Mapped[str]
    prefix: Mapped[str]
    key_hash: Mapped[str]
    created_by: Mapped[uuid.UUID | None]
    last_used_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
    revoked_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
