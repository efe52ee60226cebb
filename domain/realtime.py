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

# KEYS: sequence, stream. ARGV: topic, event JSON without id, max length.
_PUBLISH = """
local id = tostring(redis.call('INCR', KEYS[1]))
redis.call('XADD', KEYS[2], 'MAXLEN', '~', ARGV[3], id .. '-0', 'event', ARGV[2])
redis.call('PUBLISH', ARGV[1], id .. ' ' .. ARGV[2])
return id
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
        return str(await self._script(keys=[SEQUENCE_KEY, stream_key(channel)],
                                      args=[topic(channel), encode(event_type, data), STREAM_LENGTH]))


def publish_after_commit(session: AsyncSession, publisher: Publisher, channel: str, event_type: str,
                         data: Any) -> None:
    """Publish once the session's transaction has committed; never if it rolls back."""
    after_commit(session, lambda: publisher.publish(channel, event_type, data))
