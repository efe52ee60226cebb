"""Enqueue after commit.

Domain code calls `enqueue(session, ...)`; the message is handed to the
configured sender only once the transaction has committed (see
`domain.db.after_commit`). A rolled-back transaction enqueues nothing, and a
worker never receives an id whose row is not yet visible. If the broker is
unreachable at that moment the row is committed anyway and the sweeper
re-enqueues it. The domain never imports the broker: each process's
composition root builds its `Database` with a sender (`Database(..., jobs=...)`),
and every session of that database carries it.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Protocol

from sqlalchemy.ext.asyncio import AsyncSession

from domain import correlation
from domain.db import after_commit


@dataclass(frozen=True)
class JobKind:
    """A kind of job: the actor that carries it out and the queue it runs on, declared once.

    Capabilities declare their kinds as module constants next to the code that
    enqueues them; the worker modules declare their actors from the same
    constant (`workers.actors.job_actor`), and `tests/workers/test_declared_jobs.py`
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
    """Sends a job (synchronously, bounded); a sender may also offer `async def send_async(job)`, which
    the after-commit send then awaits instead."""

    def send(self, job: Job) -> None: ...


def enqueue(session: AsyncSession, kind: JobKind, *args: Any, org_id: Any = None, **options: Any) -> None:
    """Send a job of `kind` after `session`'s transaction commits.

    `org_id` names the organization the work is for (in the message's options,
    not its arguments), so the workers can bound one organization's share of a
    queue; system-wide jobs leave it out.
    """
    if not isinstance(kind, JobKind):
        raise TypeError(f"enqueue takes a declared JobKind, not {kind!r}")
    sender: JobSender | None = session.info.get("jobs")
    if sender is None:  # now, in the transaction, rather than lost after the commit
        raise RuntimeError("this Database was built without a job sender (Database(..., jobs=sender))")
    if org_id is not None:
        options["org_id"] = str(org_id)
    if options.get("request_id") is None:  # the request (or message) this job comes from, for the logs
        options.pop("request_id", None)
        if current := correlation.request_id.get():
            options["request_id"] = current
    job = Job(kind.queue, kind.actor, args, options)

    async def send() -> None:
        # A sender that can wait on the event loop does (the edge on Redis); the others block it briefly.
        send_async = getattr(sender, "send_async", None)
        if send_async is not None:
            await send_async(job)
        else:
            sender.send(job)

    after_commit(session, send)
