"""The `billing` queue: subscribing (a command) and Stripe's webhook events."""

from __future__ import annotations

import logging

from domain.billing import service as billing
from domain.billing import trial_extension, webhooks
from objecta.metrics import m
from workers.actors import job_actor
from workers.runner import command_actor
from workers.context import context

log = logging.getLogger(__name__)


@command_actor(billing.SUBSCRIBE, on_failure=billing.subscribe_failed)
async def subscribe(session, command, ctx) -> dict:
    # The customer commits in its own transaction before anything else can fail,
    # so a retry (or a crash after this point) reuses it (docs/decisions.md, 28).
    async with ctx.db.transaction(org_id=command.org_id, user_id=command.user_id) as own:
        customer = await billing.ensure_customer(own, ctx.payments, command)
    return await billing.subscribe(session, command, ctx.payments, customer)


@command_actor(billing.CANCEL)
async def cancel(session, command, ctx) -> dict:
    return await billing.set_cancellation(session, command, ctx.payments)


@command_actor(billing.RESUME)
async def resume(session, command, ctx) -> dict:
    return await billing.set_cancellation(session, command, ctx.payments)


@command_actor(billing.CHANGE_PLAN)
async def change_plan(session, command, ctx) -> dict:
    return await billing.change_plan(session, command, ctx.payments)


@command_actor(trial_extension.EXTEND_TRIAL)
async def extend_trial(session, command, ctx) -> dict:
    """An admin moved the trial's end (docs/admin.md): Stripe, then our copy."""
    return await trial_extension.extend(session, command, ctx.payments)


@job_actor(webhooks.HANDLE, max_retries=8, min_backoff=1_000, max_backoff=300_000)
async def handle_event(event_id: str) -> None:
    """Act on one stored Stripe event (idempotent: a handled event is skipped)."""
    ctx = context()
    try:
        async with ctx.db.transaction(system=True) as session:
            outcome = await webhooks.handle(session, ctx.payments, event_id)
    except Exception as error:
        # Transient (Stripe or the database): Dramatiq retries with backoff, the sweeper after that.
        async with ctx.db.transaction(system=True) as session:
            await webhooks.note_failure(session, event_id, f"{type(error).__name__}: {error}")
        m().stripe_webhooks.labels("failed").inc()
        raise
    m().stripe_webhooks.labels("handled").inc()
    log.info("stripe event %s: %s", event_id, outcome)
