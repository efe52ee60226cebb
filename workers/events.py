"""The `events` queue: one message per accepted batch of analytics events.

The edge stored the batch's new events when it accepted them (decision 124);
the batch row records what was new. Three short steps, each safe to repeat
after a crash or a redelivery (domain/analytics/service.py): read what the
row recorded, add it to the hot counters (one Redis script), then raise
alerts, push the counters and delete the row (one transaction). A batch
kept as a copy by an older edge is expanded in the first step.
"""

from __future__ import annotations

import logging
import time
import uuid
from datetime import datetime, timezone

from dramatiq.middleware import CurrentMessage

from domain.analytics import service as analytics
from domain.analytics.errors import PartitionMissing
from workers.actors import job_actor
from workers.context import context

log = logging.getLogger(__name__)


def _today():
    return datetime.now(timezone.utc).date()


@job_actor(analytics.INGEST, max_retries=20, min_backoff=500, max_backoff=60_000)
async def ingest(batch_id: str, org_id: str) -> None:
    ctx = context()
    batch_uuid, org = uuid.UUID(batch_id), uuid.UUID(org_id)
    started = time.monotonic()
    try:
        async with ctx.db.transaction(org_id=org) as session:
            stored = await analytics.ingest(session, batch_uuid, today=_today())
    except PartitionMissing:
        # A copy from an older edge holding events of a month without a partition yet.
        async with ctx.db.transaction(system=True) as session:
            months = await analytics.missing_months(session, batch_uuid)
            log.info("creating analytics partitions %s", await analytics.create_partitions(session, months))
        async with ctx.db.transaction(org_id=org) as session:
            stored = await analytics.ingest(session, batch_uuid, today=_today())
    if stored is None:
        return  # finished by an earlier delivery
    inserted = time.monotonic()
    counted = await analytics.count(ctx.counters, stored, _today())
    if counted.status == "rebuild":
        async with ctx.db.transaction(org_id=org) as session:
            await analytics.rebuild_day(session, ctx.counters, org, _today())
        counted = await analytics.count(ctx.counters, stored, _today())
    bumped = time.monotonic()
    async with ctx.db.transaction(org_id=org) as session:
        await analytics.finish(session, ctx.publisher, stored, counted, today=_today(),
                               high_traffic_per_hour=ctx.settings.analytics.high_traffic_per_hour)
    if log.isEnabledFor(logging.DEBUG):  # the stage breakdown bench/events.py reads
        message = CurrentMessage.get_current_message()
        waited = time.time() - message.message_timestamp / 1000 - (time.monotonic() - started) if message else 0
        log.debug("batch timing queue_wait_ms=%.1f read_ms=%.1f counters_ms=%.1f finish_ms=%.1f stored=%d",
                  waited * 1000, (inserted - started) * 1000, (bumped - inserted) * 1000,
                  (time.monotonic() - bumped) * 1000, stored.stored)
