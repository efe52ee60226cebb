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
class JobKind:
    """A kind of job: the actor that carries it out and the queue it runs on, declared once.

    Capabilities declare their kinds as module constants next to the code that
    enqueues them; the worker modules declare their actors from the same
    constant (`workers.jobs.job_actor`), and `tests/workers/test_declared_jobs.py`
    checks that every kind and every schedule entry names an actor on its queue.
    """

    actor: str  # "<capability>.<verb>"
    queue: str


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


def enqueue(session: AsyncSession, kind: JobKind, *args: Any, org_id: Any = None, **options: Any) -> None:
    """Send a job of `kind` after `session`'s transaction commits.

    `org_id` names the organization the work is for (in the message's options,
    not its arguments), so the workers can bound one organization's share of a
    queue; system-wide jobs leave it out.
    """
    if not isinstance(kind, JobKind):
        raise TypeError(f"enqueue takes a declared JobKind, not {kind!r}")
    if org_id is not None:
        options["org_id"] = str(org_id)
    job = Job(kind.queue, kind.actor, args, options)

    async def send() -> None:
        send_now(job)

    after_commit(session, send)
