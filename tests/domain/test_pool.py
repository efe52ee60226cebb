"""A process keeps the Postgres connections it opens (decision 133).

SQLAlchemy's overflow connections are closed when they come back to a full pool, so a pool that kept
`pool_size` and allowed as many again in overflow opened and closed connections all the time under a
steady load above `pool_size`: a Postgres backend forked for a handful of statements each time.
"""

from __future__ import annotations

import asyncio

from sqlalchemy import event, text

from domain.db import Database

POOL_SIZE = 2


def test_a_busy_pool_reuses_the_connections_it_opened(settings):
    async def main() -> int:
        db = Database(settings.database.app_url, pool_size=POOL_SIZE)
        opened: list[int] = []
        event.listen(db.engine.sync_engine.pool, "connect", lambda *_: opened.append(1))

        async def one() -> None:
            async with db.transaction() as session:
                await session.execute(text("select pg_sleep(0.01)"))

        try:
            for _ in range(10):  # waves of as many transactions at once as the process may hold connections
                await asyncio.gather(*(one() for _ in range(2 * POOL_SIZE)))
        finally:
            await db.dispose()
        return len(opened)

    # Each connection opened once and reused by every wave; with an overflow that closes, 2 + 2 per wave.
    assert asyncio.run(main()) == 2 * POOL_SIZE
