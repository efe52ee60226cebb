"""The monthly message quota: counted per message, owners and admins told at 80 % and 100 %.

Messages are not refused past the quota (nothing in the plans promises a hard stop); the notices
say so and suggest the plan with more.
"""

from __future__ import annotations

import math
import uuid

from sqlalchemy.ext.asyncio import AsyncSession

from domain.billing import entitlements, plans, repository
from domain.billing.plans import FreeLimits
from domain.models import utcnow
from domain.notifications import service as notifications

WARNING_SHARE = 0.8


async def record_message(session: AsyncSession, org_id: uuid.UUID, *, free: FreeLimits) -> None:
    """Count one message of this calendar month (UTC); send each quota notice once per month.

    Reaching 100 % with no warning sent yet (e.g. a small quota) sends only `billing.quota_reached`.
    """
    month = entitlements.month_start(utcnow())
    used, warned, reached = await repository.count_message(session, org_id, month)
    plan = await entitlements.current_plan(session, org_id, free)
    quota = plan.monthly_messages
    if quota is None or reached:
        return
    if used >= quota:
        kind = "billing.quota_reached"
    elif used >= math.ceil(quota * WARNING_SHARE) and not warned:
        kind = "billing.quota_warning"
    else:
        return
    await repository.mark_quota_notice(session, org_id, month, reached=kind == "billing.quota_reached")
    upgrade = next((p for p in plans.PLANS.values()
                    if p.paid and (p.monthly_messages is None or p.monthly_messages > quota)), None)
    notifications.notify(session, org_id, kind, {
        "plan": plan.title, "quota": quota, "used": used, "percent": math.floor(100 * used / quota),
        "month": month.strftime("%B %Y"), "upgrade_to": upgrade.title if upgrade else "a larger plan"})
