"""Enqueue after commit.

Domain code calls `enqueue(session, ...)`; the message is handed to the
configured sender only once the transaction has committed (see
`domain.db.after_commit`). A rolled-back transaction enqueues nothing, and a
worker never receives an id whose row is not yet visible. If the broker is
unreachable at that moment the row is committed anyway and the sweeper
re-enqueues it. The domain never imports the broker: the edge and the
workers install a sender at start-up with `use()`.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Protocol

from sqlalchemy.ext.asyncio import AsyncSession

from domain.db import after_commit


@dataclass(frozen=True)
class Job:
    queue: str
    actor: str
    args: tuple = ()
    options: dict[str, Any] = field(default_factory=dict)


class JobSender(Protocol):
    def send(self, job: Job) -> None: ...


_sender: JobSender | None = None


def use(sender: JobSender | None) -> None:
    """Install the process's job sender (the Dramatiq broker, in practice)."""
    global _sender
    _sender = sender


def send_now(job: Job) -> None:
    if _sender is None:
        raise RuntimeError("no job sender configured: call domain.jobs.use() at start-up")
    _sender.send(job)


def enqueue(session: AsyncSession, queue: str, actor: str, *args: Any, **options: Any) -> None:
    """Send a job after `session`'s transaction commits."""
    job = Job(queue, actor, args, options)

    async def send() -> None:
        send_now(job)

    after_commit(session, send)
