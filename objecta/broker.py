"""The one Dramatiq broker configuration, shared by the edge, workers and scheduler.

Redis by default (REDIS_URL, or BROKER_URL when it is redis://); RabbitMQ
when BROKER_URL is amqp://. Building a broker has no side effect; the
worker entry point (`workers.broker`) installs it globally before any actor
is declared, and the edge keeps its own instance for sending.
"""

from __future__ import annotations

import os
import signal

import dramatiq
from dramatiq.brokers.rabbitmq import RabbitmqBroker
from dramatiq.brokers.redis import RedisBroker
from dramatiq.middleware import AsyncIO, CurrentMessage
from periodiq import PeriodiqMiddleware

from domain.jobs import Job
from objecta.embedded import die_with_parent
from objecta.fairness import OrgFairness
from objecta.settings import Settings

# A tick that waited this long in the queue is dropped by periodiq; jobs that
# must not miss a period catch up on the next tick (see schedules/).
SCHEDULE_SKIP_DELAY = 60


def build_broker(settings: Settings) -> dramatiq.Broker:
    if settings.broker.is_rabbitmq:
        broker = RabbitmqBroker(url=settings.broker.url, confirm_delivery=True)
    else:
        broker = RedisBroker(url=settings.broker.url or settings.redis.url, namespace=settings.broker.namespace,
                             heartbeat_timeout=settings.broker.heartbeat_timeout_ms,
                             maintenance_chance=settings.broker.maintenance_chance)
    broker.add_middleware(AsyncIO())
    broker.add_middleware(CurrentMessage())
    broker.add_middleware(PeriodiqMiddleware(skip_delay=SCHEDULE_SKIP_DELAY))
    broker.add_middleware(DieWithPool())
    if settings.broker.org_concurrency:
        broker.add_middleware(OrgFairness.from_settings(settings))
    return broker


class DieWithPool(dramatiq.Middleware):
    """A worker process ends when its pool's main process does.

    Dramatiq's worker processes outlive a main process killed outright (SIGKILL,
    OOM) and keep consuming beside its replacement; and a main process told to
    stop while Redis is gone too can wait forever for a worker stuck in its
    graceful shutdown. The kernel's parent-death signal settles both; the
    broker redelivers whatever was in flight.
    """

    def after_process_boot(self, broker: dramatiq.Broker) -> None:
        die_with_parent(signal.SIGKILL)
        if os.getppid() == 1:  # the main process died before we asked
            os._exit(1)


class BrokerSender:
    """`domain.jobs.JobSender` over a Dramatiq broker: messages by actor name,
    so the sender never imports the actors' modules."""

    def __init__(self, broker: dramatiq.Broker):
        self.broker = broker

    def send(self, job: Job) -> None:
        self.broker.enqueue(dramatiq.Message(queue_name=job.queue, actor_name=job.actor, args=job.args,
                                             kwargs={}, options=dict(job.options)))
