"""Rate limits: a tiny port with a Redis implementation.

A fixed window per key: the first hit of a window creates its counter with
an expiry, every hit increments it. Cheap (one round trip) and exact enough
for limits like "20 invitations per organization per hour"; a burst across a
window boundary can reach twice the limit, which these limits tolerate.

`hit_all` checks several limits of one request (per IP, per person, per
organization...) in one script, so still one round trip: if any is spent
nothing is counted, otherwise every one is. A refused request does not eat
into the other limits.
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


# KEYS: counters. ARGV: per key, its limit then its expiry. Returns {index of the first spent limit or 0, counts...}.
_HIT_ALL = """
local counts = {}
for i, key in ipairs(KEYS) do
  counts[i] = tonumber(redis.call('GET', key) or '0')
  if counts[i] >= tonumber(ARGV[2 * i - 1]) then return {i, unpack(counts)} end
end
for i, key in ipairs(KEYS) do
  counts[i] = redis.call('INCR', key)
  if counts[i] == 1 then redis.call('EXPIRE', key, ARGV[2 * i]) end
end
return {0, unpack(counts)}
"""


@dataclass(frozen=True)
class Verdict:
    allowed: bool
    count: int
    retry_after: int  # seconds until the window resets
    # Which limit this is about, for the RateLimit headers; empty for the single-limit calls.
    name: str = ""
    limit: int = 0
    window: int = 0

    @property
    def remaining(self) -> int:
        return max(0, self.limit - self.count)


@dataclass(frozen=True)
class Check:
    """One limit of a request: `limit` hits of `subject` per `window` seconds, counted under `name`."""

    name: str
    subject: str
    limit: int
    window: int


@runtime_checkable
class RateLimiter(Protocol):
    async def hit(self, name: str, subject: str, limit: int, window: int) -> Verdict:
        """Count one hit of `subject` against `limit` per `window` seconds."""
        ...

    async def peek(self, name: str, subject: str, limit: int, window: int) -> Verdict:
        """Where `subject` stands in the current window, without counting a hit (for limits on failures:
        peek before the attempt, hit after a failure)."""
        ...

    async def hit_all(self, checks: list[Check]) -> Verdict:
        """Count one hit against every check if none is spent (one round trip); the verdict that binds:
        the spent check, or else the one with the fewest hits left."""
        ...


def window_key(name: str, subject: str, window: int, now: float | None = None, *,
               namespace: str = "") -> tuple[str, int]:
    """The counter's key for the current window, and the seconds left in it.

    `namespace` is the deployment's (BROKER_NAMESPACE): unlike most of our Redis keys, which hold ids that
    only one deployment's database knows, these hold IP addresses and emails, which two deployments sharing
    one Redis (staging beside production, two test runs) would otherwise count together.
    """
    now = time.time() if now is None else now
    start = int(now // window) * window
    prefix = f"{namespace}:" if namespace else ""
    return f"{prefix}ratelimit:{name}:{subject}:{start}", max(1, int(start + window - now))


class RedisRateLimiter:
    def __init__(self, redis: aioredis.Redis, *, namespace: str = ""):
        self._redis, self._namespace = redis, namespace
        self._script = redis.register_script(_HIT)
        self._all = redis.register_script(_HIT_ALL)

    async def hit(self, name: str, subject: str, limit: int, window: int) -> Verdict:
        key, left = window_key(name, subject, window, namespace=self._namespace)
        count, _ = await self._script(keys=[key], args=[window + 60])
        return Verdict(allowed=int(count) <= limit, count=int(count), retry_after=left)

    async def peek(self, name: str, subject: str, limit: int, window: int) -> Verdict:
        key, left = window_key(name, subject, window, namespace=self._namespace)
        count = int(await self._redis.get(key) or 0)
        return Verdict(allowed=count < limit, count=count, retry_after=left)

    async def hit_all(self, checks: list[Check]) -> Verdict:
        keys, args, lefts = [], [], []
        for check in checks:
            key, left = window_key(check.name, check.subject, check.window, namespace=self._namespace)
            keys.append(key)
            args += [check.limit, check.window + 60]
            lefts.append(left)
        spent, *counts = [int(n) for n in await self._all(keys=keys, args=args)]
        verdicts = [Verdict(allowed=spent == 0, count=int(count), retry_after=left, name=check.name,
                            limit=check.limit, window=check.window)
                    for check, count, left in zip(checks, counts, lefts)]
        if spent:
            return verdicts[spent - 1]
        return min(verdicts, key=lambda verdict: (verdict.remaining, -verdict.retry_after))


# KEYS: the connect counter, the set of open connections. ARGV: connects allowed, counter expiry, open allowed,
# now, this connection's lease end, its id, the set's expiry. Returns {0 admitted | 1 rate spent | 2 cap full, n}.
_ADMIT = """
redis.call('ZREMRANGEBYSCORE', KEYS[2], '-inf', ARGV[4])
local connects = tonumber(redis.call('GET', KEYS[1]) or '0')
if connects >= tonumber(ARGV[1]) then return {1, connects} end
local open = redis.call('ZCARD', KEYS[2])
if open >= tonumber(ARGV[3]) then return {2, open} end
if redis.call('INCR', KEYS[1]) == 1 then redis.call('EXPIRE', KEYS[1], ARGV[2]) end
redis.call('ZADD', KEYS[2], ARGV[5], ARGV[6])
redis.call('EXPIRE', KEYS[2], ARGV[7])
return {0, open + 1}
"""


class ConnectionSlots:
    """Long-lived connections of one subject (a login session's websockets): a connect rate and a cap on
    those open at once, across every process, checked in one round trip.

    An open connection holds a lease that its process renews (`renew`) and gives back on close
    (`release`); a process that dies without giving it back loses it when the lease runs out.
    """

    def __init__(self, redis: aioredis.Redis, *, lease: int, namespace: str = ""):
        self._redis, self._lease, self._namespace = redis, lease, namespace
        self._admit = redis.register_script(_ADMIT)

    def _open_key(self, subject: str) -> str:
        return f"{self._namespace}:ratelimit:open:{subject}" if self._namespace else f"ratelimit:open:{subject}"

    async def admit(self, subject: str, connection_id: str, *, connects: Check, cap: int) -> Verdict:
        """Take a slot for `connection_id` unless `connects` is spent or `cap` connections are open."""
        counter, left = window_key(connects.name, subject, connects.window, namespace=self._namespace)
        now = time.time()
        outcome, count = [int(n) for n in await self._admit(
            keys=[counter, self._open_key(subject)],
            args=[connects.limit, connects.window + 60, cap, now, now + self._lease, connection_id, self._lease * 2])]
        if outcome == 2:
            # Full: a slot frees when a connection closes, which nobody can predict; try again shortly.
            return Verdict(False, count, min(self._lease, 5), "relay_connections", cap, 0)
        return Verdict(outcome == 0, count, left, connects.name, connects.limit, connects.window)

    async def renew(self, subject: str, connection_id: str) -> None:
        await self._redis.zadd(self._open_key(subject), {connection_id: time.time() + self._lease}, xx=True)
        await self._redis.expire(self._open_key(subject), self._lease * 2)

    async def release(self, subject: str, connection_id: str) -> None:
        await self._redis.zrem(self._open_key(subject), connection_id)
