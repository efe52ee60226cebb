"""The `aggregation` queue: the nightly roll-up of analytics.

A placeholder until the analytics capability lands: the schedule, the
claim-once and catch-up machinery are real and tested; the work is empty.
"""

from __future__ import annotations

import logging
from datetime import datetime, timedelta

from workers.context import WorkerContext
from workers.scheduled import scheduled_actor

log = logging.getLogger(__name__)


@scheduled_actor("analytics.aggregate_daily", queue="aggregation")
async def aggregate_daily(ctx: WorkerContext, period: datetime) -> None:
    day = (period - timedelta(days=1)).date()
    log.info("analytics.aggregate_daily for %s: no analytics capability yet, nothing to aggregate", day)
