"""Declaring an actor from the job kind the domain enqueues, so the name and queue are written once."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import dramatiq

from domain.jobs import JobKind


def job_actor(kind: JobKind, **options: Any) -> Callable[[Callable[..., Any]], dramatiq.Actor]:
    """`@job_actor(notifications.DELIVER, max_retries=10)`: the actor for `kind`, on `kind`'s queue."""

    def declare(work: Callable[..., Any]) -> dramatiq.Actor:
        return dramatiq.actor(work, actor_name=kind.actor, queue_name=kind.queue, **options)

    return declare
