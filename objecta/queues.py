"""Figures of every broker queue, read without consuming: `queue_figures(settings) -> list[QueueFigures]`.

Synchronous and free of the edge, so `objecta status`, the admin health
route (in a thread) and a metrics exporter can all call it.

Redis broker (dramatiq's layout, `dramatiq/brokers/redis/dispatch.lua`):
`<ns>:<queue>` is the list of waiting message ids, `<ns>:<queue>.msgs` the
hash of their bodies (fetched but unacknowledged ones too), `<ns>:<queue>.DQ`
and `.DQ.msgs` the delay queue (retries and deferrals waiting for their eta;
a worker holds those in memory, unacknowledged, until due), `<ns>:<queue>.XQ`
the dead letters (a sorted set by time of death, kept 7 days).

RabbitMQ: a passive `queue.declare` gives the ready count and consumers of
`<queue>`, `<queue>.DQ` and `<queue>.XQ`; the age of the oldest message
cannot be read without consuming it, so it is None there.
"""

from __future__ import annotations

import json
import time
from collections.abc import Iterable
from dataclasses import asdict, dataclass
from pathlib import Path

import redis

from objecta import heartbeat
from objecta.connections import amqp_url, redis_options
from objecta.settings import Settings

# Modules of workers/ that hold plumbing rather than a queue's actors (tests/admin/test_system_health.py
# checks the rest against the queues the test workers run).
_PLUMBING = {"__init__", "actors", "broker", "context", "commands", "runner", "scheduled"}


def known_queues() -> list[str]:
    """Every queue: one `workers/<queue>.py` module each (read on disk: importing them declares actors)."""
    folder = Path(__file__).resolve().parent.parent / "workers"
    return sorted(path.stem for path in folder.glob("*.py") if path.stem not in _PLUMBING)


@dataclass(frozen=True)
class QueueFigures:
    name: str
    depth: int  # messages waiting to be fetched
    delayed: int  # retries and deferrals waiting for their time (the .DQ queue)
    in_flight: int | None  # fetched, not yet acknowledged (Redis only)
    oldest_age_seconds: float | None  # how long the next message has been waiting; None: empty, or unknown (RabbitMQ)
    dead_letters: int
    consumers: int  # live worker processes consuming the queue (heartbeats)

    def as_dict(self) -> dict:
        return asdict(self)


def queue_figures(settings: Settings, queues: Iterable[str] | None = None) -> list[QueueFigures]:
    """The figures of `queues` (default: every known queue plus any a live worker announces)."""
    beats = _worker_beats(settings)
    names = sorted(set(queues if queues is not None else known_queues())
                   | ({q for beat in beats for q in beat.get("queues", ())} if queues is None else set()))
    consumers = {name: sum(1 for beat in beats if name in beat.get("queues", ())) for name in names}
    if settings.broker.is_rabbitmq:
        return _rabbitmq(settings.broker.url, names, consumers)
    client = redis.Redis.from_url(settings.broker.url or settings.redis.url, **redis_options())
    try:
        return [_redis_queue(client, settings.broker.namespace, name, consumers[name]) for name in names]
    finally:
        client.close()


def _worker_beats(settings: Settings) -> list[dict]:
    if not settings.redis.url:
        return []
    client = redis.Redis.from_url(settings.redis.url, **redis_options())
    try:
        return heartbeat.read_beats(client, settings.broker.namespace, "worker")
    finally:
        client.close()


def _redis_queue(client: redis.Redis, namespace: str, name: str, consumers: int) -> QueueFigures:
    key = f"{namespace}:{name}"
    with client.pipeline(transaction=False) as pipe:
        pipe.llen(key).hlen(f"{key}.msgs").hlen(f"{key}.DQ.msgs").zcard(f"{key}.XQ").lindex(key, 0)
        depth, stored, delayed, dead, head = pipe.execute()
    oldest = None
    if head is not None:
        body = client.hget(f"{key}.msgs", head)
        oldest = _waiting_since(body)
    return QueueFigures(name=name, depth=depth, delayed=delayed, in_flight=max(0, stored - depth),
                        oldest_age_seconds=None if oldest is None else max(0.0, round(time.time() - oldest, 3)),
                        dead_letters=dead, consumers=consumers)


def _waiting_since(body: bytes | None) -> float | None:
    """When a message became due: sent, or its eta for a retry or deferral (which keep the first send's time)."""
    if body is None:  # acknowledged between the two reads
        return None
    try:
        message = json.loads(body)
    except ValueError:
        return None
    sent = message.get("message_timestamp") or 0
    eta = (message.get("options") or {}).get("eta") or 0
    due = max(sent, eta)
    return due / 1000 if due else None


def _rabbitmq(url: str, names: list[str], consumers: dict[str, int]) -> list[QueueFigures]:
    import pika  # only with RabbitMQ as the broker
    from pika.exceptions import ChannelClosedByBroker

    connection = pika.BlockingConnection(pika.URLParameters(amqp_url(url)))
    try:
        channel = connection.channel()

        def ready(queue: str) -> int:
            nonlocal channel
            try:  # passive: reads the counts, creates nothing
                return channel.queue_declare(queue=queue, passive=True).method.message_count
            except ChannelClosedByBroker:  # 404: never declared (no worker started yet), so empty
                channel = connection.channel()
                return 0

        return [QueueFigures(name=name, depth=ready(name), delayed=ready(f"{name}.DQ"), in_flight=None,
                             oldest_age_seconds=None, dead_letters=ready(f"{name}.XQ"), consumers=consumers[name])
                for name in names]
    finally:
        connection.close()
