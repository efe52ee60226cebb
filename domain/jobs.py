"""Enqueue after commit.

Domain code calls `enqueue(session, ...)`; the message is buffered on the
session and handed to the configured sender only once the transaction has
committed (see `Database.transaction`). A rolled-back transaction enqueues
nothing, and a worker never receives an id whose row is not yet visible.
The domain never imports the broker: the edge and the workers install a
sender at start-up with `use()`.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass, field
from typing import Any, Protocol

from sqlalchemy.ext.asyncio import AsyncSession


@dataclass(frozen=True)
class Job:
    queue: str
    actor: str
    args: tuple = ()
    options: dict[str, Any] = field(default_factory=dict)


class JobSender(Protocol):
    def send(self, job: Job) -> None: ...


log = logging.getLogger(__name__)
_sender: JobSender | None = None


def use(sender: JobSender | None) -> None:
    """Install the process's job sender (the Dramatiq broker, in practice)."""
    global _sender
    _sender = sender


def enqueue(session: AsyncSession, queue: str, actor: str, *args: Any, **options: Any) -> None:
    """Buffer a job to be sent after `session`'s transaction commits."""
    session.info.setdefault("jobs", []).append(Job(queue, actor, args, options))


def flush(session: AsyncSession) -> None:
    """Send the jobs buffered on a committed session."""
    pending: list[Job] = session.info.pop("jobs", [])
    if not pending:
        return
    if _sender is None:
        raise RuntimeError("no job sender configured: call domain.jobs.use() at start-up")
    for job in pending:
        try:
            _sender.send(job)
        except Exception:
            # The row is committed and answered; the sweeper re-enqueues what a
            # broker outage lost here, so the request must not fail now.
            log.exception("enqueue after commit failed for %s; the sweeper will retry it", job.actor)
