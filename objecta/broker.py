"""The one Dramatiq broker configuration, shared by the edge, workers and scheduler.

Redis by default (REDIS_URL, or BROKER_URL when it is redis://); RabbitMQ
when BROKER_URL is amqp://. Building a broker has no side effect; the
worker entry point (`workers.broker`) installs it globally before any actor
is declared, and the edge keeps its own instance for sending.
"""

from __future__ import annotations

import os
import signal
import threading
import time
from concurrent.futures import Future, ThreadPoolExecutor

import dramatiq
import redis
from dramatiq.brokers.rabbitmq import RabbitmqBroker
from dramatiq.brokers.redis import RedisBroker
from dramatiq.middleware import AsyncIO, CurrentMessage
from periodiq import PeriodiqMiddleware

from domain.jobs import Job
from objecta.connections import amqp_url, redis_options
from objecta.deadletters import DeadLetterReasons
from objecta.embedded import die_with_parent
from objecta.fairness import OrgFairness
from objecta.heartbeat import WorkerHeartbeat
from objecta.metrics import WorkerMetrics
from objecta.logs import RequestContext
from objecta.settings import Settings
from objecta.waking_broker import WakingRedisBroker

# A tick that waited this long in the queue is dropped by periodiq; jobs that
# must not miss a period catch up on the next tick (see schedules/).
SCHEDULE_SKIP_DELAY = 60


def build_broker(settings: Settings) -> dramatiq.Broker:
    if settings.broker.is_rabbitmq:
        broker = RabbitmqBroker(url=amqp_url(settings.broker.url), confirm_delivery=True)
    else:
        url = settings.broker.url or settings.redis.url
        # No URL yet (a process importing the worker modules before `objecta up` chose the embedded one's):
        # Redis' default address, as Dramatiq would use; nothing connects until a message is sent or fetched.
        pool = redis.ConnectionPool.from_url(url, **redis_options()) if url else redis.ConnectionPool(**redis_options())
        options = dict(connection_pool=pool, namespace=settings.broker.namespace,
                       heartbeat_timeout=settings.broker.heartbeat_timeout_ms,
                       maintenance_chance=settings.broker.maintenance_chance)
        broker = (WakingRedisBroker(idle_wait=settings.broker.idle_wait_ms / 1000, **options)
                  if settings.broker.idle_wait_ms else RedisBroker(**options))
    broker.add_middleware(AsyncIO())
    broker.add_middleware(CurrentMessage())
    broker.add_middleware(PeriodiqMiddleware(skip_delay=SCHEDULE_SKIP_DELAY))
    broker.add_middleware(DieWithPool())
    # Beats only in worker processes: `objecta status` and the admin health route count them per queue.
    broker.add_middleware(WorkerHeartbeat(redis_url=settings.redis.url, namespace=settings.broker.namespace))
    broker.add_middleware(DeadLetterReasons(settings.redis.url, settings.broker.namespace))
    broker.add_middleware(RequestContext())
    broker.add_middleware(WorkerMetrics(settings.observability.metrics_dir,
                                        settings.observability.worker_metrics_port))
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


# How long a send may stay blocked before its thread is given up for a new one.
ABANDON_STUCK_AFTER = 10.0


class BrokerUnavailable(ConnectionError):
    """The broker did not take a job in time, or failed a moment ago and is being left alone for a while."""


class BrokerSender:
    """`domain.jobs.JobSender` over a Dramatiq broker: messages by actor name,
    so the sender never imports the actors' modules.

    A send is bounded: it waits at most `timeout` seconds, then raises
    `BrokerUnavailable`. The edge sends after its commit, on its event loop,
    so a send that hung on an unreachable broker froze every request of the
    process; the connections' own timeouts bound most of that, but not pika
    waiting for a publisher confirm over a silent connection, so the enqueue
    runs on one sending thread and is waited for with a timeout. After a
    failure, sends fail at once for twice as long as the failure took (from
    half a second for a refused connection up to `pause` for a timeout, and
    while the failed send is still stuck), rather than making every request
    wait out the same timeout: the commands are committed, and the sweeper
    re-sends them. A refusal pauses briefly so sending resumes soon after the
    broker is back.
    """

    def __init__(self, broker: dramatiq.Broker, *, timeout: float = 2.5, pause: float = 5.0):
        self.broker = broker
        self.timeout = timeout
        self.pause = pause
        # One thread: RabbitMQ's connections are per thread, and one is plenty for messages this small.
        self._thread = ThreadPoolExecutor(max_workers=1, thread_name_prefix="broker-send")
        self._lock = threading.Lock()
        self._failed_until = 0.0
        self._stuck: Future | None = None
        self._stuck_since = 0.0

    def send(self, job: Job) -> None:
        with self._lock:
            if (self._stuck is not None and not self._stuck.done()
                    and time.monotonic() - self._stuck_since > ABANDON_STUCK_AFTER):
                # A send blocked on a dead connection (pika waiting for a confirm the broker will never
                # send) may not return at all: leave its thread behind and send from a new one, with a
                # new connection (RabbitMQ's are per thread). Waiting for it instead would leave this
                # process unable to send for good, and the sweeper's re-sends with it.
                self._thread.shutdown(wait=False)
                self._thread = ThreadPoolExecutor(max_workers=1, thread_name_prefix="broker-send")
                self._stuck = None
            if time.monotonic() < self._failed_until or (self._stuck is not None and not self._stuck.done()):
                raise BrokerUnavailable("the broker failed a moment ago; not trying again yet")
        message = dramatiq.Message(queue_name=job.queue, actor_name=job.actor, args=job.args, kwargs={},
                                   options=dict(job.options))
        began = time.monotonic()
        sent = self._thread.submit(self.broker.enqueue, message)
        try:
            sent.result(self.timeout)
        except Exception as error:
            now = time.monotonic()
            with self._lock:
                self._failed_until = now + min(self.pause, max(0.5, 2 * (now - began)))
                self._stuck, self._stuck_since = sent, began
            reason = "no answer" if not sent.done() else f"{type(error).__name__}: {error}"
            raise BrokerUnavailable(f"the broker did not take {job.actor} within {self.timeout:.1f}s ({reason})"
                                    ) from error
