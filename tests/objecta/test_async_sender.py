"""The edge's awaited sender puts into Redis exactly what Dramatiq's own enqueue puts there, and is bounded."""

from __future__ import annotations

import asyncio
import dataclasses
import json
import socket
import time
import uuid

import pytest
import redis

from domain.jobs import Job
from objecta.async_sender import AsyncRedisSender
from objecta.broker import BrokerSender, BrokerUnavailable, build_broker


def _one_namespace(settings):
    namespace = f"sender-{uuid.uuid4().hex[:8]}"
    return dataclasses.replace(settings, broker=dataclasses.replace(settings.broker, url=None, namespace=namespace,
                                                                     maintenance_chance=0))


def _stored(client: redis.Redis, namespace: str, queue: str) -> list[dict]:
    """The messages waiting on `queue`, decoded, in order (the broker's list of ids and its hash of bodies)."""
    ids = client.lrange(f"{namespace}:{queue}", 0, -1)
    return [json.loads(client.hget(f"{namespace}:{queue}.msgs", message_id)) for message_id in ids]


def test_a_job_sent_on_the_loop_lands_in_redis_as_dramatiqs_enqueue_puts_it(settings):
    settings = _one_namespace(settings)  # on the Redis broker, whichever broker this run uses
    broker = build_broker(settings)
    client = redis.Redis.from_url(settings.redis.url)
    job = Job("agents", "agents.deploy", ("c-1", "o-1"), {"org_id": "o-1", "request_id": "r-1"})
    try:
        BrokerSender(broker).send(job)

        async def send_on_the_loop():
            sender = AsyncRedisSender(broker, settings.redis.url)
            try:
                await sender.send_async(job)
            finally:
                await sender.close()

        asyncio.run(send_on_the_loop())
        by_dramatiq, by_us = _stored(client, settings.broker.namespace, "agents")
        for varying in ("message_id", "message_timestamp"):
            assert by_dramatiq.pop(varying) != by_us.pop(varying)
        assert by_dramatiq["options"].pop("redis_message_id") != by_us["options"].pop("redis_message_id")
        assert by_us == by_dramatiq  # queue, actor, args, kwargs and options alike
    finally:
        client.delete(*client.keys(f"{settings.broker.namespace}:*") or ["none"])
        client.close()
        broker.close()


def test_with_redis_unreachable_a_send_fails_within_its_timeout_and_the_next_at_once(settings):
    settings = _one_namespace(settings)
    with socket.socket() as held:  # a port that accepts nothing: nobody listens on it
        held.bind(("127.0.0.1", 0))
        dead = f"redis://127.0.0.1:{held.getsockname()[1]}/0"
        broker = build_broker(dataclasses.replace(settings, redis=dataclasses.replace(settings.redis, url=dead)))

        async def two_sends():
            sender = AsyncRedisSender(broker, dead, timeout=0.5, pause=5.0)
            job = Job("agents", "agents.deploy", ("c", "o"))
            try:
                began = time.monotonic()
                with pytest.raises(BrokerUnavailable):
                    await sender.send_async(job)
                first = time.monotonic() - began
                with pytest.raises(BrokerUnavailable, match="a moment ago"):  # refused without trying
                    await sender.send_async(job)
                return first
            finally:
                await sender.close()

        first = asyncio.run(two_sends())
        broker.close()
    assert first < 5  # bounded by its 0.5 s timeout (10x slack: this is not a speed test)
