"""A counting semaphore in Redis whose slots are leases that expire.

A key is a sorted set of lease ids scored by when each expires (Redis' own
clock, so workers on hosts whose clocks disagree still agree on expiry).
Taking a slot drops the expired leases and adds one if fewer than `limit`
remain, in one Lua script, so two takers never both get the last slot. The
holder renews its leases while it works; a holder that died (SIGKILL, OOM)
stops renewing, and its slot frees itself within `lease_ms`.
"""

from __future__ import annotations

import uuid

import redis

# Milliseconds on Redis' clock. Scripts that read TIME and then write need
# effects replication, the default since Redis 5.
_NOW = """
local time = redis.call('TIME')
local now = tonumber(time[1]) * 1000 + math.floor(tonumber(time[2]) / 1000)
"""

ACQUIRE = _NOW + """
redis.call('ZREMRANGEBYSCORE', KEYS[1], '-inf', now)
if redis.call('ZCARD', KEYS[1]) >= tonumber(ARGV[2]) then
  return 0
end
redis.call('ZADD', KEYS[1], now + tonumber(ARGV[3]), ARGV[1])
redis.call('PEXPIRE', KEYS[1], ARGV[3])
return 1
"""

# Only a lease that is still live is renewed: one that expired may already have been counted free.
RENEW = _NOW + """
local expires = redis.call('ZSCORE', KEYS[1], ARGV[1])
if not expires or tonumber(expires) <= now then
  return 0
end
redis.call('ZADD', KEYS[1], now + tonumber(ARGV[2]), ARGV[1])
redis.call('PEXPIRE', KEYS[1], ARGV[2])
return 1
"""


class LeaseSemaphore:
    """`acquire(key, limit)` gives a lease id or None when `limit` leases are live; the caller renews what
    it holds more often than `lease_ms` and releases it when done. Redis errors reach the caller."""

    def __init__(self, client: redis.Redis, lease_ms: int):
        self.client = client
        self.lease_ms = lease_ms
        self._acquire = client.register_script(ACQUIRE)
        self._renew = client.register_script(RENEW)

    def acquire(self, key: str, limit: int) -> str | None:
        lease = uuid.uuid4().hex
        return lease if self._acquire(keys=[key], args=[lease, limit, self.lease_ms]) == 1 else None

    def renew(self, held: list[tuple[str, str]]) -> int:
        """Extend each (key, lease); how many were still live."""
        pipeline = self.client.pipeline(transaction=False)
        for key, lease in held:
            self._renew(keys=[key], args=[lease, self.lease_ms], client=pipeline)
        return sum(pipeline.execute())

    def release(self, key: str, lease: str) -> None:
        self.client.zrem(key, lease)

    def holders(self, key: str) -> int:
        """Live leases under `key` (for tests and operators)."""
        return self.client.zcount(key, f"({self._now_ms()}", "+inf")

    def _now_ms(self) -> int:
        seconds, micros = self.client.time()
        return seconds * 1000 + micros // 1000
