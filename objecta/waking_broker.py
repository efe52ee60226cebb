"""A Redis broker whose idle consumers wait on Redis instead of polling it.

Dramatiq's Redis consumer has no blocking fetch: an idle consumer runs its
fetch script again after a backoff capped by the worker timeout. We run that
timeout at 100 ms (a notification crosses two queues, and each hop could wait
a full backoff), so an idle stack made ten fetches a second per queue, per
delay queue, per worker process: a quarter of a core doing nothing.

Here a consumer that holds nothing (no message in progress, none delayed)
and finds its queue empty waits in Redis itself until the queue has a
message, for at most `idle_wait` seconds: `BLMOVE q q LEFT LEFT` blocks while
the list is empty and, once it is not, moves the head to where it was (the
list is unchanged). The fetch then follows at once, so a message wakes the
consumer within a round trip instead of a backoff: faster than polling and
idle in between.

The wait is bounded because a fetch also does Dramatiq's chores for this
process: its heartbeat (a process silent for the heartbeat timeout is taken
for dead and its messages redelivered) and, by chance, the maintenance that
redelivers dead processes' messages. A consumer holding messages (acks to
send, delayed messages to release on time) keeps Dramatiq's short backoff, so
acknowledgements and delay-queue deadlines are as prompt as before.
"""

from __future__ import annotations

import redis
from dramatiq.brokers.redis import RedisBroker, _RedisConsumer
from dramatiq.errors import ConnectionClosed

from objecta.connections import SOCKET_TIMEOUT


class WakingRedisBroker(RedisBroker):
    def __init__(self, *args, idle_wait: float = 1.0, **kwargs):
        super().__init__(*args, **kwargs)
        # The wait must end before the connection's read timeout (a blocked read that outlives it is an error)
        # and well inside the heartbeat timeout (a waiting process must not look dead to the others).
        self.idle_wait = max(0.01, min(idle_wait, SOCKET_TIMEOUT / 2, self.heartbeat_timeout / 4000))

    @property
    def consumer_class(self):
        return _WakingConsumer


class _WakingConsumer(_RedisConsumer):
    def __next__(self):
        if not self.message_cache and self.outstanding_message_count == 0:
            try:
                messages = self.broker.do_fetch(self.queue_name, self.prefetch)
                if not messages:
                    self._wait_for_a_message()
                    return None  # the worker's loop comes back at once and fetches
            except redis.ConnectionError as e:
                raise ConnectionClosed(e) from None
            self.message_cache = messages
            self.misses = 0
        return super().__next__()

    def _wait_for_a_message(self) -> None:
        key = f"{self.broker.namespace}:{self.queue_name}"
        self.broker.client.blmove(key, key, self.broker.idle_wait, "LEFT", "LEFT")
