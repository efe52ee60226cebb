"""The leases of the per-organization cap, against the session's real Redis (Valkey)."""

from __future__ import annotations

import time
import uuid

import pytest
import redis

from objecta.semaphore import LeaseSemaphore


@pytest.fixture
def client(redis_url):
    connection = redis.Redis.from_url(redis_url)
    yield connection
    connection.close()


@pytest.fixture
def key():
    return f"objecta-test:fairness:agents:{uuid.uuid4()}"


def test_at_most_limit_leases_and_a_released_one_is_free_again(client, key):
    semaphore = LeaseSemaphore(client, lease_ms=10_000)
    first, second = semaphore.acquire(key, 2), semaphore.acquire(key, 2)
    assert first and second and first != second
    assert semaphore.acquire(key, 2) is None
    assert semaphore.holders(key) == 2
    semaphore.release(key, first)
    assert semaphore.acquire(key, 2) is not None
    assert semaphore.acquire(f"{key}:another-organization", 2) is not None  # keys do not share slots


def test_a_lease_nobody_renews_expires_and_a_renewed_one_does_not(client, key):
    semaphore = LeaseSemaphore(client, lease_ms=600)
    abandoned, kept = semaphore.acquire(key, 2), semaphore.acquire(key, 2)  # one holder dies, one works on
    deadline = time.monotonic() + 1.5
    while time.monotonic() < deadline:
        assert semaphore.renew([(key, kept)]) == 1
        time.sleep(0.15)
    assert semaphore.holders(key) == 1
    assert semaphore.renew([(key, abandoned)]) == 0  # an expired lease is not brought back
    assert semaphore.acquire(key, 2) is not None and semaphore.acquire(key, 2) is None
    assert 0 < client.pttl(key) <= 600  # the key goes away with its last lease
