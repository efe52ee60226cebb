"""Extending a trial, as support does for a customer who needs more time: a `billing` command.

The new end is fixed when the request is accepted (the current end plus the
days asked) and sent to Stripe by the worker with an idempotency key of the
command, so a retried attempt sends the same change. Stripe's answer is
recorded like every subscription change, and the trial reminder is due again
before the new end. The command has no sender among the organization's people
(`user_id` is null; the admin is in its payload and in the admin audit log), so
its `command.updated` events go to the organization's channel.
"""

from __future__ import annotations

import uuid
from datetime import datetime, timedelta, timezone
from typing import Any

from sqlalchemy.ext.asyncio import AsyncSession

from domain.activity import service as activity
from domain.billing import repository
from domain.billing.errors import (NoTrial, PaymentRejected, PaymentUnavailable, TrialExtensionPending,
                                   TrialTooLong)
from domain.billing.payments import Payments
from domain.billing.service import record_subscription
from domain.commands import service as commands
from domain.commands.errors import CommandFailed, TransientFailure
from domain.commands.models import Command, CommandKind, Idempotency
from domain.models import utcnow

EXTEND_TRIAL = CommandKind("billing.extend_trial", queue="billing", actor="billing.extend_trial")
# However many extensions, a trial ends within this many days of today: a longer free ride is a plan decision.
LONGEST_TRIAL_AHEAD = 90


async def request_extension(session: AsyncSession, org_id: uuid.UUID, *, days: int, admin_id: uuid.UUID,
                            idempotency: Idempotency | None = None) -> Command:
    """Accept moving the organization's trial end `days` later (system scope, an admin's request).

    Refused: no subscription in a running trial (409 `no_trial`), an extension already queued or
    running (409 `trial_extension_pending`), a trial ending more than LONGEST_TRIAL_AHEAD days
    from now (422 `trial_too_long`).
    """
    current = await repository.current_subscription(session, org_id)
    now = utcnow()
    if current is None or current.status != "trialing" or current.trial_end is None or current.trial_end <= now:
        raise NoTrial("this organization is not in a trial", details={
            "status": current.status if current else None})
    pending = await commands.unfinished(session, org_id, EXTEND_TRIAL)
    if pending is not None:
        raise TrialExtensionPending("an extension of this trial is under way; wait for it",
                                    details={"command_id": str(pending.id)})
    new_end = current.trial_end + timedelta(days=days)
    if new_end > now + timedelta(days=LONGEST_TRIAL_AHEAD):
        raise TrialTooLong(f"a trial may end at most {LONGEST_TRIAL_AHEAD} days from today",
                           details={"field": "days", "trial_end": current.trial_end.isoformat()})
    return await commands.submit(session, EXTEND_TRIAL, org_id=org_id, user_id=None, payload={
        "subscription": current.stripe_subscription_id, "days": days, "admin_id": str(admin_id),
        "previous_trial_end": current.trial_end.isoformat(), "trial_end": int(new_end.timestamp())},
        idempotency=idempotency)


async def extend(session: AsyncSession, command: Command, payments: Payments) -> dict[str, Any]:
    """The worker's side: Stripe first, then our copy, the reminder and the activity log."""
    subscription_id = command.payload["subscription"]
    try:
        state = await payments.set_trial_end(subscription_id, command.payload["trial_end"],
                                             idempotency_key=f"{command.id}:trial_end")
    except PaymentRejected as error:
        raise CommandFailed(f"Stripe refused the new trial end: {error.message}") from error
    except PaymentUnavailable as error:
        raise TransientFailure(error.message) from error
    await record_subscription(session, command.org_id, state)
    await repository.forget_trial_reminder(session, subscription_id)
    trial_end = datetime.fromtimestamp(state.trial_end, timezone.utc).isoformat() if state.trial_end else None
    await activity.record(session, None, command.org_id, "billing.subscription_changed", ip=None, details={
        "subscription": state.id, "status": state.status, "trial_end": trial_end, "extended_by_support": True})
    return {"subscription_id": state.id, "status": state.status, "trial_end": trial_end,
            "previous_trial_end": command.payload["previous_trial_end"]}
