"""The `events` queue: one message per accepted batch of analytics events.

The edge stored the batch's new events when it accepted them (decision 124);
the batch row records what was new, and the message carries the same counts.
Three short steps, each safe to repeat after a crash or a redelivery
(domain/analytics/service.py): take what was new from the message (or, for
the sweeper's messages and old ones, read the row), add it to the hot
counters (one Redis script), then raise alerts, push the counters and delete
the row (one transaction). A batch kept as a copy by an older edge is
expanded in the first step.
"""

from __future__ import annotations

import logging
import time
import uuid
from datetime import datetime, timezone

from dramatiq.middleware import CurrentMessage

from domain.analytics import service as analytics
from domain.analytics.errors import PartitionMissing
from domain.analytics.models import Ingested
from workers.actors import job_actor
from workers.context import context

log = logging.getLogger(__name__)


def _today():
    return datetime.now(timezone.utc).date()


@job_actor(analytics.INGEST, max_retries=20, min_backoff=500, max_backoff=60_000)
async def ingest(batch_id: str, org_id: str, counts: list[list] | None = None) -> None:
    ctx = context()
    batch_uuid, org = uuid.UUID(batch_id), uuid.UUID(org_id)
    started = time.monotonic()
    message = CurrentMessage.get_current_message()
    age = time.time() - message.message_timestamp / 1000 if message else None
    stored = analytics.carried(batch_uuid, org, counts, age)
    if stored is None:
        stored = await _read(ctx, batch_uuid, org)
    if stored is None:
        return  # finished by an earlier delivery
    read = time.monotonic()
    counted = await analytics.count(ctx.counters, stored, _today())
    if counted.status == "rebuild":
        async with ctx.db.transaction(org_id=org) as session:
            await analytics.rebuild_day(session, ctx.counters, org, _today())
        counted = await analytics.count(ctx.counters, stored, _today())
    bumped = time.monotonic()
    async with ctx.db.transaction(org_id=org, first_reads=(analytics.finish_first(batch_uuid),)) as session:
        await analytics.finish(session, ctx.publisher, stored, counted, today=_today(),
                               high_traffic_per_hour=ctx.settings.analytics.high_traffic_per_hour)
    if log.isEnabledFor(logging.DEBUG):  # the stage breakdown bench/events.py reads
        waited = time.time() - message.message_timestamp / 1000 - (time.monotonic() - started) if message else 0
        log.debug("batch timing queue_wait_ms=%.1f read_ms=%.1f counters_ms=%.1f finish_ms=%.1f stored=%d",
                  waited * 1000, (read - started) * 1000, (bumped - read) * 1000,
                  (time.monotonic() - bumped) * 1000, stored.stored)


async def _read(ctx, batch_id: uuid.UUID, org: uuid.UUID) -> Ingested | None:
    """What the batch row recorded (None: the batch is finished); a copy from an older edge is stored first."""
    try:
        async with ctx.db.transaction(org_id=org) as session:
            return await analytics.ingest(session, batch_id, today=_today())
    except PartitionMissing:
        # A copy from an older edge holding events of a month without a partition yet.
        async with ctx.db.transaction(system=True) as session:
            months = await analytics.missing_months(session, batch_id)
            log.info("creating analytics partitions %s", await analytics.create_partitions(session, months))
        async with ctx.db.transaction(org_id=org) as session:
            return await analytics.ingest(session, batch_id, today=_today())
