"""How long a process waits on Redis and RabbitMQ before calling them unreachable.

Without these a client waits on a silent peer forever (a partition drops
packets; nothing answers, nothing resets): an edge request that enqueues
after its commit hung with it. With them, an unreachable broker is an error
within seconds, which the caller can turn into a 503 or, for a job whose
command is already committed, a warning (the sweeper re-sends it).
Postgres' own bound is in `domain.db`.
"""

from __future__ import annotations

from urllib.parse import parse_qsl, urlencode, urlsplit, urlunsplit

import redis.asyncio.retry
import redis.retry
from redis.backoff import ConstantBackoff
from redis.exceptions import ConnectionError as RedisConnectionError

CONNECT_TIMEOUT = 2.0  # seconds to open a connection (a live broker on the same network takes milliseconds)
SOCKET_TIMEOUT = 2.0  # seconds for one answer: every command we send Redis is a short script, none blocks
AMQP_TIMEOUT = 5.0  # seconds for RabbitMQ's whole handshake


def redis_options(*, asyncio: bool = False) -> dict:
    """Keyword arguments for every Redis client but the relay's pub/sub (which waits on purpose).

    One quick reconnect rides out a connection Redis dropped (a restart); a timeout is not retried, since
    a Redis that did not answer in two seconds will not in four either.
    """
    retry = (redis.asyncio.retry.Retry if asyncio else redis.retry.Retry)(
        ConstantBackoff(0.1), 1, supported_errors=(RedisConnectionError,))
    return {"socket_connect_timeout": CONNECT_TIMEOUT, "socket_timeout": SOCKET_TIMEOUT, "retry": retry,
            "health_check_interval": 30}


def amqp_url(url: str) -> str:
    """`url` with pika's bounds added, unless the operator set them in the URL already.

    socket_timeout bounds a connect, stack_timeout the whole handshake, blocked_connection_timeout how long a
    publish waits on a broker that blocked publishers (a memory or disk alarm) before the connection is dropped.
    """
    parts = urlsplit(url)
    query = dict(parse_qsl(parts.query))
    for name, value in (("socket_timeout", CONNECT_TIMEOUT), ("stack_timeout", AMQP_TIMEOUT),
                        ("blocked_connection_timeout", AMQP_TIMEOUT), ("connection_attempts", 1)):
        query.setdefault(name, str(value))
    return urlunsplit(parts._replace(query=urlencode(query)))
