"""A worker process's composition root: what every actor of the process shares.

Built once per process, on first use inside the worker's event loop (async
actors run on one loop thread per process), never at import. Actors are
module-level functions that Dramatiq calls with their message's arguments
only, so the context is reached through `context()`: this and the broker in
`workers/broker.py` are the module-level state the library forces on us.
Adapters to outside services (Stripe, SendGrid) are built on first use, so a
pool that never pays or mails never loads their SDKs.
"""

from __future__ import annotations

from functools import cached_property
from typing import TYPE_CHECKING


from domain.agents.runtime import AgentRuntime, LocalRuntime
from domain.analytics.counters import HotCounters
from domain.billing.limits import PlanLimits
from domain.db import Database
from domain.realtime import RedisPublisher
from objecta import wiring
from objecta.broker import BrokerSender
from objecta.settings import Settings

if TYPE_CHECKING:
    import dramatiq

    from domain.billing.payments import Payments
    from domain.mail.mailer import Mailer


class WorkerContext:
    def __init__(self, settings: Settings, broker: dramatiq.Broker):
        self.settings = settings
        self.db: Database = wiring.database(settings, jobs=BrokerSender(broker))
        redis = wiring.redis(settings)
        self.publisher = RedisPublisher(redis)
        self.counters = HotCounters(redis)
        self.runtime: AgentRuntime = LocalRuntime(simulate=settings.agents.simulated_models)
        self.plan_limits: PlanLimits = wiring.plan_limits(settings)

    @cached_property
    def payments(self) -> Payments:
        return wiring.payments(self.settings)

    @cached_property
    def mailer(self) -> Mailer:
        return wiring.mailer(self.settings)


_context: WorkerContext | None = None


def context() -> WorkerContext:
    """This worker process's context, built on first use."""
    global _context
    if _context is None:
        from workers.broker import broker, settings

        _context = WorkerContext(settings, broker)
    return _context
