"""The baseline of bench/workers.py: a bare Dramatiq actor doing the command's SQL, nothing else.

    dramatiq bench.workers_bare --processes 1 --threads 4      (REDIS_URL, BENCH_BARE_NAMESPACE, DATABASE_URL)

Dramatiq's own Redis broker with its default middleware (none of ours: no
fairness cap, heartbeat, metrics, dead-letter reasons), the same actor name
and queue as the bench's command, so the messages `submit` sends are the
same. One psycopg transaction per message, as the owner (no tenant to enter):
read the command row, the work's statement, mark it succeeded.
"""

from __future__ import annotations

import os
import threading

import dramatiq
import psycopg
from dramatiq.brokers.redis import RedisBroker
from psycopg.types.json import Jsonb

broker = RedisBroker(url=os.environ["REDIS_URL"], namespace=os.environ["BENCH_BARE_NAMESPACE"])
dramatiq.set_broker(broker)
_local = threading.local()  # one connection per worker thread, as a pool would hand out


def _connection() -> psycopg.Connection:
    if getattr(_local, "connection", None) is None:
        _local.connection = psycopg.connect(os.environ["DATABASE_URL"])
    return _local.connection


@dramatiq.actor(actor_name="bench.touch", queue_name="bench")
def touch(command_id: str, org_id: str) -> None:
    connection = _connection()
    with connection.transaction():
        status = connection.execute("select status from commands where id = %s for update", (command_id,)).fetchone()
        if status is None or status[0] == "succeeded":
            return
        name = connection.execute("select name from organizations where id = %s", (org_id,)).fetchone()[0]
        connection.execute("update commands set status = 'succeeded', attempts = attempts + 1, result = %s, "
                           "updated_at = clock_timestamp(), finished_at = clock_timestamp() where id = %s",
                           (Jsonb({"organization": name}), command_id))
