"""The `maintenance` queue: schedule ticks and the command sweeper."""

from __future__ import annotations

import logging
from datetime import datetime

import schedules
from domain.analytics import service as analytics
from domain.billing import service as billing
from domain.billing import dunning, trials, webhooks
from domain.commands import service as commands
from workers.context import WorkerContext
from workers.scheduled import declare_ticks, scheduled_actor

log = logging.getLogger(__name__)

# A tick actor per schedule entry: the scheduler (`periodiq workers.broker workers.maintenance`) sends
# them, this queue's pool runs them.
ticks = declare_ticks(schedules.TABLE)


@scheduled_actor("commands.sweep", queue="maintenance", max_retries=0)
async def sweep(ctx: WorkerContext, period: datetime) -> None:
    """Re-send stale commands of every organization (a system-scoped transaction)."""
    limits = ctx.settings.commands
    async with ctx.db.transaction(system=True) as session:
        resent = await commands.resend_stale(session, queued_for=limits.sweep_queued_after,
                                             running_for=limits.sweep_running_after)
    if resent:
        log.warning("sweeper re-sent %d stale command(s)", resent)


# Events stored this long ago and still unhandled lost their job (or exhausted its retries).
UNHANDLED_EVENT_AFTER = 120


@scheduled_actor("billing.sweep_events", queue="maintenance", max_retries=0)
async def sweep_events(ctx: WorkerContext, period: datetime) -> None:
    """Re-queue Stripe events stored but never handled (a system-scoped transaction)."""
    async with ctx.db.transaction(system=True) as session:
        resent = await webhooks.resend_unhandled(session, older_than=UNHANDLED_EVENT_AFTER)
    if resent:
        log.warning("sweeper re-queued %d unhandled Stripe event(s)", resent)


@scheduled_actor("billing.prune_events", queue="maintenance", max_retries=0)
async def prune_events(ctx: WorkerContext, period: datetime) -> None:
    """Delete handled Stripe events older than STRIPE_EVENT_RETENTION_DAYS, a batch per transaction."""
    pruned = 0
    while True:
        async with ctx.db.transaction(system=True) as session:
            deleted = await webhooks.prune(session, retention_days=ctx.settings.billing.event_retention_days)
        pruned += deleted
        if deleted == 0:
            break
    if pruned:
        log.info("pruned %d handled Stripe event(s)", pruned)


@scheduled_actor("billing.apply_downgrades", queue="maintenance", max_retries=0)
async def apply_downgrades(ctx: WorkerContext, period: datetime) -> None:
    """Move subscriptions whose paid period ends within the hour to their pending cheaper plan, each in its own transaction."""
    async with ctx.db.transaction(system=True) as session:
        due = await billing.due_downgrades(session)
    for subscription_id in due:
        try:
            async with ctx.db.transaction(system=True) as session:
                log.info("%s", await billing.apply_downgrade(session, ctx.payments, subscription_id))
        except Exception:
            # Stripe or the database failed for this one: the next run (every 5 minutes) tries again.
            log.exception("downgrading subscription %s failed", subscription_id)


@scheduled_actor("billing.remind_trials", queue="maintenance", max_retries=0)
async def remind_trials(ctx: WorkerContext, period: datetime) -> None:
    """Remind owners and admins of trials ending within three days (once each)."""
    async with ctx.db.transaction(system=True) as session:
        reminded = await trials.remind_ending(session)
    if reminded:
        log.info("reminded %d organization(s) that their trial ends soon", reminded)


@scheduled_actor("billing.check_grace", queue="maintenance", max_retries=0)
async def check_grace(ctx: WorkerContext, period: datetime) -> None:
    """Remind organizations three days before BILLING_GRACE_DAYS runs out; restrict those past it."""
    async with ctx.db.transaction(system=True) as session:
        reminded = await dunning.remind_overdue(session, grace_days=ctx.settings.billing.grace_days)
        restricted = await dunning.restrict_overdue(session, grace_days=ctx.settings.billing.grace_days)
    if reminded:
        log.info("reminded %d organization(s) of an unpaid invoice", len(reminded))
    if restricted:
        log.warning("restricted %d organization(s) for a failed payment", len(restricted))


# A batch takes milliseconds; one kept this long most likely lost its message or its worker
# (or waits behind a backlog: then it is re-sent once per this period, and the copy does nothing).
UNFINISHED_BATCH_AFTER = 120


@scheduled_actor("analytics.sweep_batches", queue="maintenance", max_retries=0)
async def sweep_batches(ctx: WorkerContext, period: datetime) -> None:
    """Re-send analytics batches accepted but not finished (a system-scoped transaction)."""
    async with ctx.db.transaction(system=True) as session:
        resent = await analytics.resend_batches(session, older_than=UNFINISHED_BATCH_AFTER)
    if resent:
        log.warning("sweeper re-sent %d unfinished analytics batch(es)", resent)
