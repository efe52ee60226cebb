"""An idle Redis-broker consumer waits in Redis for a message instead of polling, and loses nothing by it."""

from __future__ import annotations

import threading
import time
import uuid

import dramatiq
import redis

from objecta.waking_broker import WakingRedisBroker


def broker_on(redis_url: str, idle_wait: float = 1.0, namespace: str | None = None) -> WakingRedisBroker:
    # A namespace of its own: this test must not see another test's queues on a shared Redis.
    return WakingRedisBroker(client=redis.Redis.from_url(redis_url),
                             namespace=namespace or f"wake-{uuid.uuid4().hex[:8]}",
                             heartbeat_timeout=60_000, idle_wait=idle_wait)


def message(n: int) -> dramatiq.Message:
    return dramatiq.Message(queue_name="q", actor_name="noop", args=(n,), kwargs={}, options={})


class Counted:
    """Counts the consumer's fetches and what its waits returned (None: the wait ran out)."""

    def __init__(self, consumer):
        self.fetches = 0
        self.woken_by: list = []
        fetch = consumer.broker.do_fetch

        def counted_fetch(*args):
            self.fetches += 1
            return fetch(*args)

        def recorded_wait():
            key = f"{consumer.broker.namespace}:{consumer.queue_name}"
            self.woken_by.append(consumer.broker.client.blmove(key, key, consumer.broker.idle_wait, "LEFT", "LEFT"))

        consumer.broker.do_fetch = counted_fetch
        consumer._wait_for_a_message = recorded_wait


def test_an_idle_consumer_fetches_about_once_per_wait_not_every_backoff(redis_url):
    broker = broker_on(redis_url, idle_wait=0.5)
    broker.declare_queue("q")
    consumer = broker.consume("q", prefetch=4, timeout=100)  # the 100 ms backoff `objecta up` runs with
    counted = Counted(consumer)
    began = time.monotonic()
    while time.monotonic() - began < 2.0:
        assert next(consumer) is None
    # Polling with a 100 ms backoff fetches about 20 times in 2 s; waiting 0.5 s at a time, about 4.
    assert counted.fetches <= 6, counted.fetches
    assert all(woken is None for woken in counted.woken_by)  # every wait ran out: nothing arrived


def test_a_message_wakes_the_waiting_consumer_and_arrives_in_order(redis_url):
    broker = broker_on(redis_url, idle_wait=1.0)
    broker.declare_queue("q")
    consumer = broker.consume("q", prefetch=8, timeout=100)
    counted = Counted(consumer)
    sender = broker_on(redis_url, namespace=broker.namespace)
    sender.declare_queue("q")

    def send_later():
        time.sleep(0.3)
        for n in range(3):
            sender.enqueue(message(n))

    threading.Thread(target=send_later).start()
    received = []
    deadline = time.monotonic() + 10
    while len(received) < 3 and time.monotonic() < deadline:
        proxy = next(consumer)
        if proxy is not None:
            received.append(proxy.args[0])
            consumer.ack(proxy)
    assert received == [0, 1, 2]  # the wait moved the head back where it was: nothing lost, reordered or doubled
    assert any(woken is not None for woken in counted.woken_by)  # a message ended a wait, not its timeout


def test_a_consumer_holding_messages_keeps_polling_so_acks_and_delays_stay_prompt(redis_url):
    broker = broker_on(redis_url, idle_wait=1.0)
    broker.declare_queue("q")
    broker.enqueue(message(1))
    consumer = broker.consume("q", prefetch=4, timeout=100)
    counted = Counted(consumer)
    held = next(consumer)
    assert held is not None and held.args == (1,)
    began = time.monotonic()
    while time.monotonic() - began < 0.5:
        assert next(consumer) is None
    assert counted.woken_by == []  # never waited in Redis while a message was outstanding
    consumer.ack(held)
