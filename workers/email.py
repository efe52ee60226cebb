"""The `email` queue: `email.send(dedupe_key, to, template, context)` sends one email, once per key.

A delivery, every transaction in the system scope (emails belong to no tenant):
1. Hold the key's lock: a Postgres advisory lock in a transaction kept open for
   the whole delivery. If another delivery of the key holds it, retry later:
   by then it has either finished (the row says `sent`) or died (the database
   freed its lock when its connection closed).
2. Claim, committed at once: the row becomes `sending`, attempts + 1. A `sent`
   row means there is nothing to do; `sending` (an attempt died) and `failed`
   rows are taken over.
3. Render the template and hand the email to the mailer (SendGrid or the outbox).
4. Commit `sent` with the provider's message id right away. A
   `PermanentMailError` (a 4xx, a template bug) commits `failed` with a
   readable error and is not retried. A `TransientMailError` (429, 5xx,
   network) leaves the row `sending` with the reason, and Dramatiq retries
   with backoff (8 retries, 1 s to 5 min); the last one gives up as `failed`.
   So `failed` always means "nobody will try again unless the message is
   re-sent", and `sending` with an error means "a retry is scheduled".

The tradeoff, at least once, with the duplicate window kept as small as it
can be: a worker killed after the provider accepted an email but before step
4 committed leaves a `sending` row and no lock. The redelivered message cannot
tell "died before the call" from "died after it" (SendGrid takes no
idempotency key), so it sends again: a possible duplicate. Refusing instead
(at most once) would silently lose every email whose worker died before or
during the call, which is the likelier case and, for an invitation, the worse
one. What we do to keep duplicates rare: the lock, not the row, decides who
sends, so two live deliveries of one key (a redelivery, a double enqueue)
never both send; `sent` commits in its own short transaction the moment the
provider answers; a `sending` row left behind shows an operator exactly which
emails were in doubt. A provider timeout after SendGrid accepted is retried
too, and is the same window.
"""

from __future__ import annotations

import logging

import dramatiq
from dramatiq.middleware import CurrentMessage
from sqlalchemy.exc import OperationalError

from domain.mail import Email, MailError, PermanentMailError, TransientMailError, render
from domain.mail import service as mail
from objecta.metrics import m
from workers.actors import job_actor
from workers.context import WorkerContext
from workers.context import context as worker_context

log = logging.getLogger(__name__)

MAX_RETRIES = 8
MIN_BACKOFF_MS = 1_000
MAX_BACKOFF_MS = 300_000


class DeliveryInProgress(dramatiq.Retry):
    """Another delivery of the same key holds its lock (a Retry: not logged as an error)."""


# A lost database connection is transient too; anything else unexpected is
# a bug that retrying would only repeat.
_TRANSIENT = (TransientMailError, DeliveryInProgress, OperationalError)


def _should_retry(retries: int, error: BaseException) -> bool:
    return isinstance(error, _TRANSIENT) and retries < MAX_RETRIES


@job_actor(mail.SEND, retry_when=_should_retry, min_backoff=MIN_BACKOFF_MS, max_backoff=MAX_BACKOFF_MS)
async def send(dedupe_key: str, to: str, template: str, context: dict) -> None:
    ctx = worker_context()
    async with ctx.db.transaction(system=True) as held:
        if not await mail.hold(held, dedupe_key):
            raise DeliveryInProgress(f"email {dedupe_key!r} is being sent by another delivery")
        await _deliver(ctx, dedupe_key, to, template, context)


async def _deliver(ctx: WorkerContext, dedupe_key: str, to: str, template: str, context: dict) -> None:
    async with ctx.db.transaction(system=True) as session:
        attempt = await mail.claim(session, dedupe_key, to, template)
    if attempt is None:
        log.info("email %s already sent; skipping this delivery", dedupe_key)
        return
    try:
        # Links are built here, from this deployment's APP_URL: the code that queues an email gives paths.
        subject, text, html = render(template, {**context, "app_url": ctx.settings.http.app_url})
        email = Email(to=to, subject=subject, text=text, html=html, dedupe_key=dedupe_key,
                      sender=ctx.settings.mail.sender)
        provider_id = await ctx.mailer.send(email)
    except Exception as error:
        reason = _readable(error)
        async with ctx.db.transaction(system=True) as session:
            if _should_retry(_retries_so_far(), error):
                await mail.mark_retrying(session, dedupe_key, reason)
            elif isinstance(error, _TRANSIENT):
                await mail.mark_failed(session, dedupe_key, f"gave up after {attempt} attempts: {reason}")
            else:
                await mail.mark_failed(session, dedupe_key, reason)
        if not _should_retry(_retries_so_far(), error):
            m().emails.labels("failed").inc()
        if isinstance(error, PermanentMailError):
            log.warning("email %s (%s) to %s failed for good: %s", dedupe_key, template, to, error.message)
            return  # an outcome, not a dead letter
        raise
    async with ctx.db.transaction(system=True) as session:
        await mail.mark_sent(session, dedupe_key, provider_id)
    m().emails.labels("sent").inc()
    log.info("email %s (%s) sent to %s on attempt %d", dedupe_key, template, to, attempt)


def _retries_so_far() -> int:
    """The retries Dramatiq has made of this message: what it will ask `_should_retry` with."""
    message = CurrentMessage.get_current_message()
    return message.options.get("retries", 0) if message else 0


def _readable(error: Exception) -> str:
    if isinstance(error, MailError):
        return error.message
    return f"unexpected error ({type(error).__name__}): {error}"
