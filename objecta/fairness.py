"""Fair worker pools: one organization runs at most N messages of a queue at once.

A pool's threads are shared by every organization; without a bound, one that
sends many slow jobs holds all of them and everyone else's work waits behind
it. Before a message whose options carry `org_id` runs, `OrgFairness` takes a
slot of the (queue, organization) semaphore in Redis (objecta.semaphore),
shared by every pool of that queue; it gives the slot back when the message
is done, succeeded or failed. A message over the cap is not run, failed nor
counted as an attempt: it goes back to the broker's delay queue for a short,
growing, jittered wait and comes round again. Messages without `org_id`
(schedule ticks, system jobs) are not capped.

Fairness is best-effort: when Redis cannot be reached for the semaphore, or
a deferral cannot be sent, the message runs anyway (with a warning) rather
than work stopping.
"""

from __future__ import annotations

import logging
import random
import threading
import time

import dramatiq
import redis
from dramatiq.common import q_name
from dramatiq.middleware import SkipMessage

from objecta.semaphore import LeaseSemaphore
from objecta.settings import Settings

log = logging.getLogger(__name__)

# A deferred message waits FIRST_WAIT_MS, doubling with each deferral up to LONGEST_WAIT_MS, each wait
# jittered between half and all of it: a flood's waiting messages come round less often the longer
# they wait (less broker churn) and not all at once.
FIRST_WAIT_MS = 500
LONGEST_WAIT_MS = 5_000
DEFERRALS = "fairness_deferrals"  # the message option counting them
WARN_EVERY = 60  # seconds between two "Redis unreachable" warnings of one process


class OrgFairness(dramatiq.Middleware):
    def __init__(self, *, redis_url: str, namespace: str, limit: int, lease_ms: int):
        self.redis_url = redis_url
        self.namespace = namespace
        self.limit = limit
        self.lease_ms = lease_ms
        self._semaphore: LeaseSemaphore | None = None
        self._lock = threading.Lock()
        # Hooks of one message run on one worker thread: what that thread holds now.
        self._local = threading.local()
        self._held: dict[str, str] = {}  # lease -> key, renewed by one thread per process
        self._renewer: threading.Thread | None = None
        self._stopping = threading.Event()
        self._warned_at = 0.0

    @classmethod
    def from_settings(cls, settings: Settings) -> "OrgFairness":
        # A slot lives as long as the broker waits for a silent worker: by the time a dead worker's
        # message is delivered again, the slot it held is free again.
        return cls(redis_url=settings.redis.url, namespace=settings.broker.namespace,
                   limit=settings.broker.org_concurrency, lease_ms=settings.broker.heartbeat_timeout_ms)

    def key(self, queue_name: str, org_id: str) -> str:
        return f"{self.namespace}:fairness:{q_name(queue_name)}:{org_id}"

    def before_process_message(self, broker: dramatiq.Broker, message: dramatiq.MessageProxy) -> None:
        org_id = message.options.get("org_id")
        if not org_id:
            return
        key = self.key(message.queue_name, str(org_id))
        try:
            lease = self.semaphore().acquire(key, self.limit)
        except Exception as error:  # Redis down, or a bug here: neither may stop the work
            self._warn(f"cannot reach Redis for the per-organization cap; running {message} uncapped: {error}")
            return
        if lease is not None:
            self._hold(key, lease)
            return
        self._defer(broker, message, org_id)

    def after_process_message(self, broker, message, *, result=None, exception=None) -> None:
        self._release()

    def after_skip_message(self, broker, message) -> None:
        self._release()  # a later middleware may skip a message that holds a slot

    def after_worker_boot(self, broker, worker) -> None:
        logging.getLogger("dramatiq.worker.WorkerThread").addFilter(QuietDeferrals(self))

    def before_worker_shutdown(self, broker, worker) -> None:
        self._stopping.set()

    def semaphore(self) -> LeaseSemaphore:
        """One client per worker process, made on first use (never when the broker is built)."""
        with self._lock:
            if self._semaphore is None:
                # Short timeouts: an unreachable Redis must not stall every message for long.
                client = redis.Redis.from_url(self.redis_url, socket_timeout=2, socket_connect_timeout=2)
                self._semaphore = LeaseSemaphore(client, self.lease_ms)
            return self._semaphore

    def _defer(self, broker: dramatiq.Broker, message: dramatiq.MessageProxy, org_id: str) -> None:
        deferrals = int(message.options.get(DEFERRALS, 0))
        wait = min(LONGEST_WAIT_MS, FIRST_WAIT_MS * 2 ** min(deferrals, 16))
        wait = random.randint(wait // 2, wait)
        try:
            # Sent before this delivery is acknowledged (SkipMessage acks it): a crash in between
            # duplicates the message, which commands tolerate, rather than losing it.
            broker.enqueue(message.copy(options={DEFERRALS: deferrals + 1}), delay=wait)
        except Exception as error:  # the broker's own errors differ between Redis and RabbitMQ
            self._warn(f"cannot defer {message} of organization {org_id}; running it over the cap: {error}")
            return
        log.debug("organization %s has %d messages of %s running; %s waits %d ms", org_id, self.limit,
                  message.queue_name, message.message_id, wait)
        self._local.deferring = True
        raise SkipMessage(f"organization {org_id} is at its cap on {message.queue_name}")

    def _hold(self, key: str, lease: str) -> None:
        self._local.lease = (key, lease)
        with self._lock:
            self._held[lease] = key
            if self._renewer is None:
                self._renewer = threading.Thread(target=self._renew_forever, name="fairness-renewer", daemon=True)
                self._renewer.start()

    def _release(self) -> None:
        self._local.deferring = False
        held = getattr(self._local, "lease", None)
        if held is None:
            return
        self._local.lease = None
        key, lease = held
        with self._lock:
            self._held.pop(lease, None)
        try:
            self.semaphore().release(key, lease)
        except redis.RedisError as error:
            self._warn(f"cannot release a per-organization slot (it expires on its own): {error}")

    def _renew_forever(self) -> None:
        # Three chances per lease period: one late or failed renewal does not free a live slot.
        interval = max(self.lease_ms / 3000, 0.05)
        while not self._stopping.wait(interval):
            with self._lock:
                held = [(key, lease) for lease, key in self._held.items()]
            if not held:
                continue
            try:
                self.semaphore().renew(held)
            except redis.RedisError as error:
                self._warn(f"cannot renew per-organization slots: {error}")

    def _warn(self, text: str) -> None:
        now = time.monotonic()
        if now - self._warned_at >= WARN_EVERY:
            self._warned_at = now
            log.warning(text)


class QuietDeferrals(logging.Filter):
    """Dramatiq logs every skipped message as a warning; a deferral is the cap working, not a problem."""

    def __init__(self, fairness: OrgFairness):
        super().__init__()
        self.fairness = fairness

    def filter(self, record: logging.LogRecord) -> bool:
        return not (record.msg == "Message %s was skipped." and getattr(self.fairness._local, "deferring", False))
