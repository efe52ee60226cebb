"""Heartbeats: which worker and relay processes are alive, written to Redis with a TTL.

Each worker process (`WorkerHeartbeat`, a Dramatiq middleware) and each relay
process (`publish_relay`) sets a key of its own every `INTERVAL` seconds that
expires after `TTL`: a process that dies, is killed or hangs stops renewing
it and drops out of `objecta status` on its own, with nothing to clean up.
The keys live in REDIS_URL's Redis (also with RabbitMQ as the broker), under
the broker's namespace, and are read by `objecta.health`.
"""

from __future__ import annotations

import asyncio
import json
import logging
import os
import socket
import threading
import time
from collections.abc import Callable

import dramatiq
import redis
from dramatiq.common import q_name

from objecta.connections import redis_options

log = logging.getLogger(__name__)

INTERVAL = 10.0  # seconds between two beats
TTL = 30  # seconds a beat counts: three missed beats and the process is gone


def worker_key(namespace: str, worker_id: str) -> str:
    return f"{namespace}:health:worker:{worker_id}"


def relay_key(namespace: str, relay_id: str) -> str:
    return f"{namespace}:health:relay:{relay_id}"


def process_id() -> str:
    return f"{socket.gethostname()}:{os.getpid()}"


class WorkerHeartbeat(dramatiq.Middleware):
    """Installed on every broker; beats only in worker processes (`after_worker_boot` never fires in the
    edge or the scheduler), naming the queues that process consumes."""

    def __init__(self, *, redis_url: str | None, namespace: str, interval: float = INTERVAL, ttl: int = TTL):
        self.redis_url, self.namespace, self.interval, self.ttl = redis_url, namespace, interval, ttl
        self._stopping = threading.Event()
        self._client: redis.Redis | None = None
        self._key = ""
        self._beat: dict = {}

    def after_worker_boot(self, broker: dramatiq.Broker, worker: dramatiq.Worker) -> None:
        if not self.redis_url:
            return
        # `--queues` limits a worker to some queues; without it, it consumes every queue it declared.
        chosen = worker.consumer_whitelist or broker.get_declared_queues()
        queues = sorted({q_name(name) for name in chosen})
        self._client = redis.Redis.from_url(self.redis_url, **redis_options())
        self._key = worker_key(self.namespace, process_id())
        self._beat = {"host": socket.gethostname(), "pid": os.getpid(), "queues": queues,
                      "started_at": time.time(), "threads": worker.worker_threads}
        threading.Thread(target=self._beat_forever, name="heartbeat", daemon=True).start()

    def before_worker_shutdown(self, broker: dramatiq.Broker, worker: dramatiq.Worker) -> None:
        self._stopping.set()
        if self._client is not None:
            try:  # a clean stop leaves at once rather than after the TTL
                self._client.delete(self._key)
            except redis.RedisError:
                pass

    def _beat_forever(self) -> None:
        while not self._stopping.is_set():
            try:
                self._client.set(self._key, json.dumps({**self._beat, "beat_at": time.time()}), ex=self.ttl)
            except redis.RedisError as error:  # Redis down: the process looks dead meanwhile, which is what we know
                log.warning("could not write the worker heartbeat: %s", error)
            self._stopping.wait(self.interval)


async def publish_relay(client, namespace: str, connections: int, *, ttl: int = TTL) -> None:
    """One relay process's open websockets (an asyncio Redis client); called every INTERVAL."""
    await client.set(relay_key(namespace, process_id()),
                     json.dumps({"host": socket.gethostname(), "pid": os.getpid(), "connections": connections,
                                 "beat_at": time.time()}), ex=ttl)


async def beat_relay(client, namespace: str, connections: Callable[[], int], *, interval: float = INTERVAL,
                     ttl: int = TTL) -> None:
    """Run for the relay's life (a task it cancels on stop): its count of open websockets every `interval`."""
    try:
        while True:
            try:
                await publish_relay(client, namespace, connections(), ttl=ttl)
            except Exception as error:  # Redis down: the relay serves on; it just goes uncounted meanwhile
                log.warning("could not write the relay heartbeat: %s", error)
            await asyncio.sleep(interval)
    finally:
        try:  # a clean stop leaves at once rather than after the TTL
            await asyncio.shield(client.delete(relay_key(namespace, process_id())))
        except Exception:
            pass


def read_beats(client: redis.Redis, namespace: str, kind: str) -> list[dict]:
    """Every live beat of `kind` ("worker" or "relay"), from a synchronous client."""
    keys = sorted(client.scan_iter(match=f"{namespace}:health:{kind}:*", count=500))
    if not keys:
        return []
    beats = []
    for raw in client.mget(keys):
        if raw is None:  # expired between the scan and the read
            continue
        try:
            beats.append(json.loads(raw))
        except ValueError:
            continue
    return beats
