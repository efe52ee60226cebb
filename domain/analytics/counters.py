"""Hot counters in Redis: today so far, per organization, moved once per stored batch.

Keys (all under `analytics:`):
- `day:{org}:{YYYY-MM-DD}`: a hash of `events`, `n:{name}` and `a:{agent_id}`, valid only once
  it holds `_built` (written by a rebuild from Postgres). A missing `_built` means Redis lost the
  day, or nobody looked at it yet: counts are not added to an unbuilt day, the next reader or
  the next batch of today rebuilds it from `analytics_events`.
- `counted:{batch_id}`: the batch's counts were added (kept 2 days). Checked and set in the same
  script as the increments, so a redelivered batch adds nothing.
- `hour:{org}:{agent}:{YYYY-MM-DDTHH}`: one agent's events in one clock hour, for agent.high_traffic.
- `pushed:{org}`: set for a second when `analytics.counters` was published.

Each batch costs one round trip (one script), whatever its size.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date

PREFIX = "analytics:"
DAY_TTL = 3 * 86400
MARKER_TTL = 2 * 86400
HOUR_TTL = 2 * 3600
PUSH_EVERY_MS = 1000

# ARGV: prefix, org, batch, today, touches today (0/1), then groups of 5: day, hour, name, agent, n.
# Returns {status, hash of today or {} when no push is due, {agent, hour, total, added}...}.
_COUNT = """
local prefix, org, batch, today = ARGV[1], ARGV[2], ARGV[3], ARGV[4]
local marker = prefix .. 'counted:' .. batch
if redis.call('EXISTS', marker) == 1 then return {'counted'} end
local todaykey = prefix .. 'day:' .. org .. ':' .. today
if ARGV[5] == '1' and redis.call('HEXISTS', todaykey, '_built') == 0 then return {'rebuild'} end
redis.call('SET', marker, '1', 'EX', %(marker_ttl)d)
local built = {}
local hours = {}
for i = 6, #ARGV, 5 do
  local day, hour, name, agent, n = ARGV[i], ARGV[i + 1], ARGV[i + 2], ARGV[i + 3], tonumber(ARGV[i + 4])
  local key = prefix .. 'day:' .. org .. ':' .. day
  if built[key] == nil then built[key] = redis.call('HEXISTS', key, '_built') == 1 end
  if built[key] then
    redis.call('HINCRBY', key, 'events', n)
    redis.call('HINCRBY', key, 'n:' .. name, n)
    if agent ~= '' then redis.call('HINCRBY', key, 'a:' .. agent, n) end
  end
  if agent ~= '' then
    local slot = agent .. ':' .. day .. 'T' .. hour
    hours[slot] = (hours[slot] or 0) + n
  end
end
local crossed = {}
for slot, n in pairs(hours) do
  local key = prefix .. 'hour:' .. org .. ':' .. slot
  local total = redis.call('INCRBY', key, n)
  redis.call('EXPIRE', key, %(hour_ttl)d)
  table.insert(crossed, {slot, tostring(total), tostring(n)})
end
local snapshot = {}
if redis.call('SET', prefix .. 'pushed:' .. org, '1', 'PX', %(push_ms)d, 'NX') then
  snapshot = redis.call('HGETALL', todaykey)
end
return {'counted-now', snapshot, crossed}
""" % {"marker_ttl": MARKER_TTL, "hour_ttl": HOUR_TTL, "push_ms": PUSH_EVERY_MS}

# ARGV: prefix, org, day, then the fields and values of the hash, then '--', then batch ids.
_REBUILD = """
local prefix, org, day = ARGV[1], ARGV[2], ARGV[3]
local key = prefix .. 'day:' .. org .. ':' .. day
if redis.call('HEXISTS', key, '_built') == 1 then return 0 end
redis.call('DEL', key)
local i = 4
while ARGV[i] ~= '--' do
  redis.call('HSET', key, ARGV[i], ARGV[i + 1])
  i = i + 2
end
redis.call('HSET', key, '_built', '1')
redis.call('EXPIRE', key, %(day_ttl)d)
for j = i + 1, #ARGV do redis.call('SET', prefix .. 'counted:' .. ARGV[j], '1', 'EX', %(marker_ttl)d) end
return 1
""" % {"day_ttl": DAY_TTL, "marker_ttl": MARKER_TTL}


@dataclass(frozen=True)
class HourTotal:
    """An agent's events in one clock hour after this batch, and how many this batch added."""

    agent_id: str
    hour: str  # YYYY-MM-DDTHH (UTC)
    total: int
    added: int


@dataclass(frozen=True)
class Counted:
    status: str  # "counted-now", "counted" (already, a redelivery) or "rebuild" (today is not built)
    snapshot: dict[str, str] | None  # today's hash when a push to the dashboard is due
    hours: list[HourTotal]


class HotCounters:
    """The counters over a redis.asyncio client (decode_responses=True)."""

    def __init__(self, redis):
        self.redis = redis
        self._count = redis.register_script(_COUNT)
        self._rebuild = redis.register_script(_REBUILD)

    async def add(self, org_id: str, batch_id: str, today: date, counts: list[list]) -> Counted:
        """Add a stored batch's counts once (see the module's docstring)."""
        touches_today = any(row[0] == today.isoformat() for row in counts)
        args = [PREFIX, org_id, batch_id, today.isoformat(), "1" if touches_today else "0"]
        for day, hour, name, agent, n in counts:
            args += [day, f"{int(hour):02d}", name, agent, n]
        reply = await self._count(keys=[], args=args)
        if reply[0] != "counted-now":
            return Counted(reply[0], None, [])
        snapshot = dict(zip(reply[1][::2], reply[1][1::2])) if reply[1] else None
        hours = []
        for slot, total, added in reply[2]:
            agent, hour = slot.split(":", 1)
            hours.append(HourTotal(agent, hour, int(total), int(added)))
        return Counted("counted-now", snapshot, hours)

    async def today(self, org_id: str, today: date) -> dict[str, str] | None:
        """Today's hash, or None when it is not built (Redis lost it, or nobody asked yet today)."""
        found = await self.redis.hgetall(f"{PREFIX}day:{org_id}:{today.isoformat()}")
        return found if found.get("_built") else None

    async def rebuild(self, org_id: str, day: date, fields: dict[str, int], counted_batches: list[str]) -> bool:
        """Write a day rebuilt from Postgres unless someone else already did; mark those batches counted."""
        args = [PREFIX, org_id, day.isoformat()]
        for field, value in fields.items():
            args += [field, value]
        args.append("--")
        args += counted_batches
        return bool(await self._rebuild(keys=[], args=args))
