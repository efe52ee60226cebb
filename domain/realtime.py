"""Realtime publishing: what workers push to browsers through the relay.

Channels are `user:{id}` and `org:{id}`. Each published event gets an id
from one global counter, is appended to that channel's bounded Redis stream
(for replay to a client that reconnects with `last_event_id`) and is
broadcast on the channel's pub/sub topic (for connected clients). One Lua
script does the three steps atomically, so ids are increasing in every
stream and comparable across streams: a relay merges a user's and their
organization's replay by id.

Publishing from a transaction goes through `publish_after_commit`: nobody is
told about a change that might still roll back.
"""

from __future__ import annotations

import json
import logging
import uuid
from typing import Any, Protocol, runtime_checkable

from sqlalchemy.ext.asyncio import AsyncSession

from domain.db import after_commit

log = logging.getLogger(__name__)

SEQUENCE_KEY = "relay:seq"
STREAM_PREFIX = "relay:stream:"
TOPIC_PREFIX = "relay:topic:"
STREAM_LENGTH = 1000  # events kept per channel for replay

# KEYS: sequence, stream. ARGV: topic, max length, then each event's JSON without id. One call publishes
# several events of a channel in order (a notification and its badge): one round trip, consecutive ids.
_PUBLISH = """
local ids = {}
for i = 3, #ARGV do
  local id = tostring(redis.call('INCR', KEYS[1]))
  redis.call('XADD', KEYS[2], 'MAXLEN', '~', ARGV[2], id .. '-0', 'event', ARGV[i])
  redis.call('PUBLISH', ARGV[1], id .. ' ' .. ARGV[i])
  ids[#ids + 1] = id
end
return ids
"""


def user_channel(user_id: uuid.UUID | str) -> str:
    return f"user:{user_id}"


def org_channel(org_id: uuid.UUID | str) -> str:
    return f"org:{org_id}"


def stream_key(channel: str) -> str:
    return STREAM_PREFIX + channel


def topic(channel: str) -> str:
    return TOPIC_PREFIX + channel


def encode(event_type: str, data: Any) -> str:
    return json.dumps({"type": event_type, "data": data}, separators=(",", ":"), default=str)


@runtime_checkable
class Publisher(Protocol):
    async def publish(self, channel: str, event_type: str, data: Any) -> str: ...


class RedisPublisher:
    """Publishes with a redis.asyncio client (decode_responses=True)."""

    def __init__(self, redis):
        self._script = redis.register_script(_PUBLISH)

    async def publish(self, channel: str, event_type: str, data: Any) -> str:
        """Append to the channel's stream and broadcast; returns the event id."""
        return (await self.publish_many(channel, [(event_type, data)]))[0]

    async def publish_many(self, channel: str, events: list[tuple[str, Any]]) -> list[str]:
        """`publish` for several events of one channel, in order, in one round trip; their ids."""
        ids = await self._script(keys=[SEQUENCE_KEY, stream_key(channel)],
                                 args=[topic(channel), STREAM_LENGTH, *(encode(t, d) for t, d in events)])
        return [i.decode() if isinstance(i, bytes) else str(i) for i in ids]


def publish_after_commit(session: AsyncSession, publisher: Publisher, channel: str, event_type: str,
                         data: Any) -> None:
    """Publish once the session's transaction has committed; never if it rolls back."""
    after_commit(session, lambda: publisher.publish(channel, event_type, data))


def publish_all_after_commit(session: AsyncSession, publisher: Publisher, channel: str,
                             events: list[tuple[str, Any]]) -> None:
    """`publish_after_commit` for several events of one channel, in order; one round trip where the
    publisher can (`publish_many`)."""
    async def publish() -> None:
        many = getattr(publisher, "publish_many", None)
        if many is not None:
            await many(channel, events)
            return
        for event_type, data in events:
            await publisher.publish(channel, event_type, data)
    after_commit(session, publish)
