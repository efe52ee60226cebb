"""The edge's job sender on the Redis broker: Dramatiq's own enqueue, awaited on the event loop.

`BrokerSender` runs `broker.enqueue` on a thread and waits for it, which holds the edge's event loop
(every request of the process) for the Redis round trip and two thread switches, once per command.
This sender sends the same message with the same Lua script (`dispatch`, command `enqueue`) that
`RedisBroker.enqueue` runs, over an asyncio Redis client: the loop serves other requests meanwhile.
A worker cannot tell the two apart (tests/objecta/test_async_sender.py compares what lands in Redis).

It reads a few of `RedisBroker`'s attributes (its namespace, broker id, scripts and the arguments its
dispatch passes); pyproject pins Dramatiq below 3, and that test fails if they change. RabbitMQ keeps
`BrokerSender`: pika has no asyncio client we use, and its publisher confirms are what make a send safe.
Bounded like `BrokerSender`: a send waits at most `timeout`, and after a failure sends fail at once for
a while (the commands are committed; the sweeper re-sends them).
"""

from __future__ import annotations

import asyncio
import time
import uuid

import dramatiq
import redis.asyncio as aioredis
from dramatiq.brokers.redis import RedisBroker
from dramatiq.common import current_millis

from domain.jobs import Job
from objecta.broker import BrokerSender, BrokerUnavailable
from objecta.connections import redis_options


class AsyncRedisSender:
    """`domain.jobs.JobSender` with `send_async` for the event loop; `send` (outside a loop) is `BrokerSender`'s."""

    def __init__(self, broker: RedisBroker, url: str, *, timeout: float = 2.5, pause: float = 5.0):
        self.broker = broker
        self.sync = BrokerSender(broker, timeout=timeout, pause=pause)
        self.timeout = timeout
        self.pause = pause
        self._redis = aioredis.from_url(url, **redis_options(asyncio=True))
        self._dispatch = self._redis.register_script(broker.scripts["dispatch"].script)
        self._unpack: int | None = None  # Dramatiq asks Redis once per process (a script of its own)
        self._failed_until = 0.0

    def send(self, job: Job) -> None:
        self.sync.send(job)

    async def send_async(self, job: Job) -> None:
        if time.monotonic() < self._failed_until:
            raise BrokerUnavailable("the broker failed a moment ago; not trying again yet")
        broker = self.broker
        began = time.monotonic()
        try:
            if self._unpack is None:
                self._unpack = await asyncio.wait_for(asyncio.to_thread(broker._max_unpack_size), self.timeout)
            # What RedisBroker.enqueue does for a message without delay, step by step.
            message = dramatiq.Message(queue_name=job.queue, actor_name=job.actor, args=job.args, kwargs={},
                                       options={**job.options, "redis_message_id": str(uuid.uuid4())})
            broker.emit_before("enqueue", message, None)
            await asyncio.wait_for(self._dispatch(keys=[broker.namespace], args=[
                "enqueue", current_millis(), job.queue, broker.broker_id, broker.heartbeat_timeout,
                broker.dead_message_ttl, broker._should_do_maintenance("enqueue"), self._unpack,
                message.options["redis_message_id"], message.encode()]), self.timeout)
        except (OSError, asyncio.TimeoutError, aioredis.RedisError) as error:
            now = time.monotonic()
            self._failed_until = now + min(self.pause, max(0.5, 2 * (now - began)))
            raise BrokerUnavailable(f"the broker did not take {job.actor} within {self.timeout:.1f}s "
                                    f"({type(error).__name__}: {error})") from error
        broker.emit_after("enqueue", message, None)

    async def close(self) -> None:
        await self._redis.aclose()
