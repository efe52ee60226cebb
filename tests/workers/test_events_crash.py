"""A pool SIGKILLed mid-run loses and doubles no event, in Postgres or in the counters.

No shared pool in this module: the test starts one, kills it while it is
counting batches (the edge stored their events when it accepted them,
decision 124), and lets a second one finish after the broker redelivers.
"""

from __future__ import annotations

import uuid

from tests.fixtures.worker import wait_for

BATCHES, SIZE = 200, 25  # many batches: the pool's work is per batch, not per event


def test_a_pool_killed_mid_batch_loses_and_doubles_nothing(owner, start_worker, rows):
    def stored() -> int:
        return rows("select count(*) as n from analytics_events where org_id = :o", o=owner.org_id)[0]["n"]

    def pending() -> int:
        return rows("select count(*) as n from event_batches where org_id = :o", o=owner.org_id)[0]["n"]

    assert owner.get("/v1/analytics/realtime").json()["events"] == 0  # today's counters exist from now on
    for _ in range(BATCHES):
        events = [{"event_id": uuid.uuid4().hex, "name": "page.view", "properties": {"n": i}} for i in range(SIZE)]
        assert owner.post("/v1/events", json={"events": events}).status_code == 202
    assert stored() == BATCHES * SIZE  # stored at accept, none counted yet
    first = start_worker(["workers.events"], threads=4)
    wait_for(lambda: pending() < BATCHES, 60, interval=0.01, what="the first batches to be counted")
    first.kill()
    assert pending() > 0, "the pool finished before it could be killed: make the run longer"
    start_worker(["workers.events"], threads=4)
    wait_for(lambda: pending() == 0, 120, what="the second pool to finish every batch")
    assert stored() == BATCHES * SIZE
    assert rows("select count(*) as n from (select event_id from analytics_events where org_id = :o "
                "group by event_id having count(*) > 1) d", o=owner.org_id)[0]["n"] == 0
    assert owner.get("/v1/analytics/realtime").json()["events"] == BATCHES * SIZE
