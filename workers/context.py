"""What every actor of a worker process shares: settings, the database pool,
the realtime publisher, the job sender and the adapters.

Created on first use inside the worker's event loop (async actors run on
one loop thread per process), never at import.
"""

from __future__ import annotations

from dataclasses import dataclass

import redis.asyncio as aioredis

from domain import jobs
from domain.agents.runtime import AgentRuntime, LocalRuntime
from domain.analytics.counters import HotCounters
from domain.billing.payments import StripePayments
from domain.db import Database
from domain.realtime import RedisPublisher
from objecta.broker import BrokerSender
from objecta.settings import Settings


@dataclass
class WorkerContext:
    settings: Settings
    db: Database
    publisher: RedisPublisher
    runtime: AgentRuntime
    payments: StripePayments
    counters: HotCounters


_context: WorkerContext | None = None


def context() -> WorkerContext:
    global _context
    if _context is None:
        from workers.broker import broker, settings

        jobs.use(BrokerSender(broker))
        redis = aioredis.from_url(settings.redis.url, decode_responses=True)
        _context = WorkerContext(settings=settings, db=Database(settings.database.app_url,
                                                                settings.database.pool_size),
                                 publisher=RedisPublisher(redis), runtime=LocalRuntime(simulate=settings.agents.simulated_models),
                                 payments=StripePayments(settings.billing.stripe_secret_key,
                                                         settings.billing.api_base),
                                 counters=HotCounters(redis))
    return _context
