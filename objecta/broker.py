"""The one Dramatiq broker configuration, shared by the edge, workers and scheduler.

Redis by default (REDIS_URL, or BROKER_URL when it is redis://); RabbitMQ
when BROKER_URL is amqp://. Building a broker has no side effect; the
worker entry point (`workers.broker`) installs it globally before any actor
is declared, and the edge keeps its own instance for sending.
"""

from __future__ import annotations

import dramatiq
from dramatiq.brokers.rabbitmq import RabbitmqBroker
from dramatiq.brokers.redis import RedisBroker
from dramatiq.middleware import AsyncIO, CurrentMessage
from periodiq import PeriodiqMiddleware

from domain.jobs import Job
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
    return broker


class BrokerSender:
    """`domain.jobs.JobSender` over a Dramatiq broker: messages by actor name,
    so the sender never imports the actors' modules."""

    def __init__(self, broker: dramatiq.Broker):
        self.broker = broker

    def send(self, job: Job) -> None:
        self.broker.enqueue(dramatiq.Message(queue_name=job.queue, actor_name=job.actor, args=job.args,
                                             kwargs={}, options=dict(job.options)))
