"""Rate limits: a tiny port with a Redis implementation.

A fixed window per key: the first hit of a window creates its counter with
an expiry, every hit increments it. Cheap (one round trip) and exact enough
for limits like "20 invitations per organization per hour"; a burst across a
window boundary can reach twice the limit, which these limits tolerate.
"""

from __future__ import annotations

import time
from dataclasses import dataclass
from typing import Protocol, runtime_checkable

import redis.asyncio as aioredis

# KEYS: counter. ARGV: window seconds. Returns the count after this hit and the key's TTL.
_HIT = """
local count = redis.call('INCR', KEYS[1])
if count == 1 then redis.call('EXPIRE', KEYS[1], ARGV[1]) end
return {count, redis.call('TTL', KEYS[1])}
"""


@dataclass(frozen=True)
class Verdict:
    allowed: bool
    count: int
    retry_after: int  # seconds until the window resets


@runtime_checkable
class RateLimiter(Protocol):
    async def hit(self, name: str, subject: str, limit: int, window: int) -> Verdict:
        """Count one hit of `subject` against `limit` per `window` seconds."""
        ...

    async def peek(self, name: str, subject: str, limit: int, window: int) -> Verdict:
        """Where `subject` stands in the current window, without counting a hit (for limits on failures:
        peek before the attempt, hit after a failure)."""
        ...


def window_key(name: str, subject: str, window: int, now: float | None = None) -> tuple[str, int]:
    """The counter's key for the current window, and the seconds left in it."""
    now = time.time() if now is None else now
    start = int(now // window) * window
    return f"ratelimit:{name}:{subject}:{start}", max(1, int(start + window - now))


class RedisRateLimiter:
    def __init__(self, redis: aioredis.Redis):
        self._redis = redis
        self._script = redis.register_script(_HIT)

    async def hit(self, name: str, subject: str, limit: int, window: int) -> Verdict:
        key, left = window_key(name, subject, window)
        count, _ = await self._script(keys=[key], args=[window + 60])
        return Verdict(allowed=int(count) <= limit, count=int(count), retry_after=left)

    async def peek(self, name: str, subject: str, limit: int, window: int) -> Verdict:
        key, left = window_key(name, subject, window)
        count = int(await self._redis.get(key) or 0)
        return Verdict(allowed=count < limit, count=count, retry_after=left)
