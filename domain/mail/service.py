"""Queueing emails, and the bookkeeping that sends each dedupe key once.

Other capabilities call `send_later` inside their transaction; the email
queue (`workers/email.py`) does the rest with the functions below, in the
system scope (email deliveries belong to no tenant).
"""

from __future__ import annotations

import json
from typing import Any

from sqlalchemy.ext.asyncio import AsyncSession

from domain import jobs
from domain.mail import repository
from domain.mail.errors import MailTemplateError
from domain.mail.repository import Delivery
from domain.mail.rendering import templates

SEND = jobs.JobKind("email.send", queue="email")
MAX_ERROR_LENGTH = 2000
# Longer than any one provider call (SendGrid's times out at 30 s); see repository.lock.
LOCK_IDLE_TIMEOUT_MS = 90_000


def send_later(session: AsyncSession, *, dedupe_key: str, to: str, template: str, context: dict[str, Any]) -> None:
    """Send `template` to `to` once `session`'s transaction commits (nothing if it rolls back).

    `dedupe_key` names this email for good (e.g. `invitation:{id}`): the same
    key is delivered once however often it is queued. `context` must be
    JSON (it travels through the broker). A mistake in either raises here,
    in the caller's transaction, rather than later in a worker. Links are
    paths (`accept_path`, `action_path`): the email worker adds `app_url`,
    this deployment's APP_URL, when it renders.
    """
    if template not in templates():
        raise MailTemplateError(f"unknown email template {template!r}")
    if not dedupe_key:
        raise ValueError("an email needs a dedupe key")
    json.dumps(context)  # TypeError now beats a message the broker cannot encode after commit
    jobs.enqueue(session, SEND, dedupe_key, to, template, context)


async def hold(session: AsyncSession, dedupe_key: str) -> bool:
    """Take the key's lock for as long as `session`'s transaction stays open.

    The lock marks a delivery in progress; it is the database's, so a worker
    that dies (even SIGKILL) releases it when its connection closes. False
    means another delivery of the same key is running now.
    """
    return await repository.lock(session, dedupe_key, LOCK_IDLE_TIMEOUT_MS)


async def claim(session: AsyncSession, dedupe_key: str, to: str, template: str) -> int | None:
    """Record an attempt to send: the attempt number, or None if the key was already sent.

    A `sending` row found here (under the lock, see `hold`) was left by an
    attempt that died; a `failed` one by an attempt that failed. Both are
    taken over.
    """
    return await repository.claim(session, dedupe_key, to, template)


async def mark_sent(session: AsyncSession, dedupe_key: str, provider_id: str | None) -> None:
    """The provider accepted the email; `provider_id` is its message id."""
    await repository.mark_sent(session, dedupe_key, provider_id or None)


async def mark_failed(session: AsyncSession, dedupe_key: str, error: str) -> None:
    """No more attempts are coming; `error` says why, for an operator.

    Not final for good: re-sending the message (a dead letter re-driven) claims it again.
    """
    await repository.mark_failed(session, dedupe_key, error[:MAX_ERROR_LENGTH])


async def mark_retrying(session: AsyncSession, dedupe_key: str, error: str) -> None:
    """The attempt failed and another is scheduled: the row stays `sending`, with the reason."""
    await repository.note_error(session, dedupe_key, error[:MAX_ERROR_LENGTH])


async def delivery(session: AsyncSession, dedupe_key: str) -> Delivery | None:
    """Where the email with this key stands, if it was ever attempted."""
    return await repository.get(session, dedupe_key)
