"""The events pipeline on real workers: stored once, counted once, nothing lost when a worker dies.

Counts are read back as a user would (GET /v1/analytics/realtime) and
straight from `analytics_events`. `realtime` is read once before sending, so
today's counters exist in Redis and the later reads show the counters the
worker moved, not a rebuild from Postgres.
"""

from __future__ import annotations

import asyncio
import json
import threading
import uuid
from datetime import datetime, timedelta, timezone

import pytest
import redis

from tests.fixtures.worker import Worker, wait_for

THRESHOLD = 50  # ANALYTICS_HIGH_TRAFFIC_PER_HOUR of this module's pool


@pytest.fixture(scope="module")
def events_pool(test_env, settings, tmp_path_factory):
    pool = Worker({**test_env, "ANALYTICS_HIGH_TRAFFIC_PER_HOUR": str(THRESHOLD)},
                  tmp_path_factory.mktemp("events") / "worker.log", threads=4).start()
    yield pool
    pool.stop()


def _events(n: int, **fields) -> list[dict]:
    return [{"event_id": uuid.uuid4().hex, "name": "page.view", **fields} for _ in range(n)]


def _stored(rows, org_id) -> int:
    return rows("select count(*) as n from analytics_events where org_id = :o", o=org_id)[0]["n"]


def _pending(rows, org_id) -> int:
    return rows("select count(*) as n from event_batches where org_id = :o", o=org_id)[0]["n"]


def _settled(rows, org_id, timeout: float = 60) -> None:
    wait_for(lambda: _pending(rows, org_id) == 0, timeout, what="every batch to be finished")


def _realtime(account) -> dict:
    response = account.get("/v1/analytics/realtime")
    assert response.status_code == 200, response.text
    return response.json()


def test_a_retried_batch_is_stored_and_counted_once_even_without_occurred_at(owner, events_pool, rows):
    agent = owner.post("/v1/agents", json={"name": "bot", "model": "gpt-4o"}).json()
    assert _realtime(owner)["events"] == 0
    first = _events(10, agent_id=agent["id"], occurred_at=datetime.now(timezone.utc).isoformat())
    assert owner.post("/v1/events", json={"events": first}).status_code == 202
    wait_for(lambda: _realtime(owner)["events"] == 10, 30, what="the counters to show the batch")
    # The client timed out and sends again, this time without occurred_at (and with one new event).
    retry = [{key: value for key, value in event.items() if key != "occurred_at"} for event in first]
    assert owner.post("/v1/events", json={"events": retry + _events(1)}).json()["accepted"] == 11
    _settled(rows, owner.org_id)
    assert _stored(rows, owner.org_id) == 11
    today = _realtime(owner)
    assert today["events"] == 11
    assert today["by_agent"] == {agent["id"]: 10} and today["active_agents"] == 1
    assert today["by_name"] == {"page.view": 11}


def test_concurrent_duplicate_batches_are_stored_and_counted_once(owner, api_key_of, events_pool, rows, client):
    _realtime(owner)
    events = _events(500)
    key = api_key_of(owner)
    answers = []

    def send():
        answers.append(client.post("/v1/events", json={"events": events},
                                   headers={"Authorization": f"Bearer {key}"}).status_code)

    senders = [threading.Thread(target=send) for _ in range(6)]
    for sender in senders:
        sender.start()
    for sender in senders:
        sender.join()
    assert answers == [202] * 6
    _settled(rows, owner.org_id)
    assert _stored(rows, owner.org_id) == 500
    assert _realtime(owner)["events"] == 500


@pytest.fixture
def api_key_of():
    def make(account) -> str:
        return account.post("/v1/api-keys", json={"name": "server"}).json()["key"]
    return make


def test_realtime_is_rebuilt_after_redis_loses_the_counters(owner, events_pool, rows, settings):
    _realtime(owner)
    assert owner.post("/v1/events", json={"events": _events(7)}).status_code == 202
    _settled(rows, owner.org_id)
    assert _realtime(owner)["events"] == 7
    lost = redis.Redis.from_url(settings.redis.url)
    keys = list(lost.scan_iter("analytics:*"))
    assert keys
    lost.delete(*keys)  # what a FLUSHDB or a restart without persistence does to our keys
    assert _realtime(owner)["events"] == 7  # rebuilt from analytics_events, not zeros
    assert owner.post("/v1/events", json={"events": _events(3)}).status_code == 202
    _settled(rows, owner.org_id)
    assert _realtime(owner)["events"] == 10


def test_the_platform_emits_messages_conversations_deploys_and_errors(owner, events_pool, rows):
    agent = owner.post("/v1/agents", json={"name": "bot", "model": "gpt-4o"}).json()
    _realtime(owner)
    conversation = owner.post(f"/v1/agents/{agent['id']}/conversations", json={}).json()
    for text in ("hello", "again"):
        owner.post(f"/v1/agents/{agent['id']}/conversations/{conversation['id']}/messages", json={"content": text})
    owner.post(f"/v1/agents/{agent['id']}/errors", json={"message": "timeout"})
    owner.post(f"/v1/agents/{agent['id']}/deploy")
    wait_for(lambda: _realtime(owner)["deploys"] == 1, 30, what="the deploy to be counted")
    _settled(rows, owner.org_id)
    today = _realtime(owner)
    assert (today["messages"], today["conversations"], today["errors"], today["deploys"]) == (2, 1, 1, 1)
    assert today["by_agent"] == {agent["id"]: 5}


def test_an_agent_crossing_the_hourly_threshold_notifies_once(owner, events_pool, rows):
    agent = owner.post("/v1/agents", json={"name": "busy", "model": "gpt-4o"}).json()
    for size in (THRESHOLD - 10, 20, 30):  # crosses inside the second batch; the third must not notify again
        owner.post("/v1/events", json={"events": _events(size, agent_id=agent["id"])})
        _settled(rows, owner.org_id)

    def alerts():
        items = owner.get("/v1/notifications").json()["items"]
        return [n for n in items if n["type"] == "agent.high_traffic"]

    wait_for(alerts, 30, what="agent.high_traffic")
    [alert] = alerts()
    assert alert["title"] == "busy has high traffic"
    assert rows("select count(*) as n from analytics_alerts where org_id = :o", o=owner.org_id)[0]["n"] == 1


def test_the_dashboard_hears_analytics_counters(owner, events_pool, rows, start_relay):
    relay = start_relay()
    _realtime(owner)
    with relay.connect(owner) as browser:
        owner.post("/v1/events", json={"events": _events(4)})
        while True:
            event = json.loads(browser.recv(timeout=30))
            if event["type"] == "analytics.counters":
                break
    assert event["data"]["events"] == 4


def test_late_events_mark_their_day_for_another_roll_up(owner, events_pool, rows):
    three_days_ago = datetime.now(timezone.utc) - timedelta(days=3)
    owner.post("/v1/events", json={"events": _events(2, occurred_at=three_days_ago.isoformat())})
    _settled(rows, owner.org_id)
    marked = rows("select day from analytics_stale_days where org_id = :o", o=owner.org_id)
    assert [row["day"] for row in marked] == [three_days_ago.date()]


def test_a_batch_stored_before_a_crash_is_counted_once_by_the_next_delivery(owner, events_pool, settings, rows):
    """The events are committed at accept; the worker read what the batch stored and died before adding
    it to the counters; then the message comes back (twice, for good measure)."""
    from domain import jobs
    from domain.analytics import service as analytics
    from domain.db import Database

    _realtime(owner)
    held: list[jobs.Job] = []
    edge_db = owner.client.app.state.services.db
    edge_sender = edge_db.jobs  # the test edge's broker sender, built by its lifespan

    class Hold:
        def send(self, job):
            held.append(job)

    edge_db.jobs = Hold()  # accept the batch, but keep its message back
    try:
        response = owner.post("/v1/events", json={"events": _events(5)})
    finally:
        edge_db.jobs = edge_sender
    assert response.status_code == 202 and len(held) == 1
    batch_id = uuid.UUID(response.json()["batch_id"])

    async def store_only():
        db = Database(settings.database.app_url, 1)
        try:
            async with db.transaction(org_id=uuid.UUID(owner.org_id)) as session:
                return await analytics.ingest(session, batch_id, today=datetime.now(timezone.utc).date())
        finally:
            await db.dispose()

    assert asyncio.run(store_only()).stored == 5  # step one done, then "the worker died"
    assert _stored(rows, owner.org_id) == 5
    assert _realtime(owner)["events"] == 0
    edge_sender.send(held[0])
    edge_sender.send(held[0])
    _settled(rows, owner.org_id)
    wait_for(lambda: _realtime(owner)["events"] == 5, 30, what="the counters to catch up")
    assert _stored(rows, owner.org_id) == 5
    assert _realtime(owner)["events"] == 5


def test_the_sweeper_re_sends_a_batch_whose_message_was_lost(owner, events_pool, settings, rows):
    from domain.analytics import service as analytics
    from domain.db import Database

    _realtime(owner)
    edge_db = owner.client.app.state.services.db
    edge_sender = edge_db.jobs

    class Lose:
        def send(self, job):
            pass  # the broker was down when the request committed

    edge_db.jobs = Lose()
    try:
        assert owner.post("/v1/events", json={"events": _events(6)}).status_code == 202
    finally:
        edge_db.jobs = edge_sender
    assert _pending(rows, owner.org_id) == 1

    async def sweep(older_than: int) -> int:
        db = Database(settings.database.app_url, 1, jobs=edge_sender)
        try:
            async with db.transaction(system=True) as session:
                return await analytics.resend_batches(session, older_than=older_than)
        finally:
            await db.dispose()

    assert asyncio.run(sweep(3600)) == 0  # not yet stale
    assert asyncio.run(sweep(0)) >= 1
    _settled(rows, owner.org_id)
    assert _stored(rows, owner.org_id) == 6
    assert _realtime(owner)["events"] == 6


def test_an_event_of_a_month_without_a_partition_is_stored(owner, events_pool, rows, settings):
    """The store creates a missing month first; and when a month the edge remembers as created is gone
    after all (dropped, or its create rolled back), the batch is still accepted and stored."""
    from sqlalchemy import create_engine, text

    from domain.db import sqlalchemy_url

    long_ago = datetime.now(timezone.utc) - timedelta(days=85)
    partition = f"analytics_events_p{long_ago:%Y%m}"
    assert rows("select to_regclass(:p) as found", p=partition)[0]["found"] is None  # nobody made it yet
    assert owner.post("/v1/events", json={"events": _events(3, occurred_at=long_ago.isoformat())}).status_code == 202
    _settled(rows, owner.org_id)
    assert rows("select count(*) as n from analytics_events where org_id = :o and occurred_at = :at",
                o=owner.org_id, at=long_ago)[0]["n"] == 3
    assert rows("select to_regclass(:p)::text as found", p=partition)[0]["found"] == partition

    engine = create_engine(sqlalchemy_url(settings.database.url))  # the owner's: only it drops partitions
    with engine.begin() as connection:
        connection.execute(text(f"drop table {partition}"))
    engine.dispose()
    response = owner.post("/v1/events", json={"events": _events(4, occurred_at=long_ago.isoformat())})
    assert response.status_code == 202, response.text
    _settled(rows, owner.org_id)
    assert rows("select count(*) as n from analytics_events where org_id = :o and occurred_at = :at",
                o=owner.org_id, at=long_ago)[0]["n"] == 4


def test_events_are_stored_as_sent(owner, events_pool, rows):
    """The accepting statement expands the batch in Postgres (decisions 106, 124): every field arrives
    intact, properties as the client sent them (spaces, escapes, non-ASCII), absent ones as NULL."""
    agent = owner.post("/v1/agents", json={"name": "bot", "model": "gpt-4o"}).json()
    when = "2026-11-30T01:02:03.456789+00:00"
    body = ('{"events": [{"event_id": "tab\\there \\u00e9", "name": "a:b-c_d.e", "agent_id": "%s", '
            '"occurred_at": "%s", "properties": { "text" : "line\\nbreak \\"quoted\\" \\\\ \\u00e9\\u2603", '
            '"n": [1, 2.5, null, true], "o": {}}}, {"event_id": "bare", "name": "page.view"}]}') % (
        agent["id"], when.replace("+00:00", "Z"))
    response = owner.post("/v1/events", content=body.encode(), headers={"content-type": "application/json"})
    assert response.status_code == 202, response.text
    _settled(rows, owner.org_id)
    stored = {row["event_id"]: row for row in rows(
        "select event_id, name, agent_id::text as agent, occurred_at, properties from analytics_events "
        "where org_id = :o", o=owner.org_id)}
    first = stored["tab\there \u00e9"]
    assert first["name"] == "a:b-c_d.e" and first["agent"] == agent["id"]
    assert first["occurred_at"] == datetime.fromisoformat(when)
    assert first["properties"] == {"text": 'line\nbreak "quoted" \\ \u00e9\u2603', "n": [1, 2.5, None, True], "o": {}}
    assert stored["bare"]["agent"] is None and stored["bare"]["properties"] is None


def test_a_batch_kept_as_a_copy_by_an_older_edge_is_stored_and_counted(owner, events_pool, settings, rows):
    """During a rolling upgrade an edge from before decision 124 writes the events as a copy on the batch
    row and only enqueues; the worker expands it, stores the new events once and counts them."""
    from domain import jobs
    from domain.analytics import service as analytics

    _realtime(owner)
    batch_id, now = uuid.uuid4(), datetime.now(timezone.utc)
    copy = json.dumps([[uuid.uuid4().hex, "page.view", None, now.isoformat(), {"n": i}] for i in range(3)])
    rows("insert into event_batches (id, org_id, received_at, event_count, events) "
         "values (:b, :o, :at, 3, :events) returning id", b=batch_id, o=owner.org_id, at=now, events=copy)
    edge_sender = owner.client.app.state.services.db.jobs
    job = jobs.Job(analytics.INGEST.queue, analytics.INGEST.actor, (str(batch_id), owner.org_id))
    edge_sender.send(job)
    edge_sender.send(job)  # redelivered
    _settled(rows, owner.org_id)
    assert rows("select properties from analytics_events where org_id = :o order by properties->>'n'",
                o=owner.org_id) == [{"properties": {"n": i}} for i in range(3)]
    wait_for(lambda: _realtime(owner)["events"] == 3, 30, what="the counters to show the copy's events")


def test_counts_carried_by_a_message_are_trusted_only_while_the_counted_marker_lives():
    """A message carries what its batch stored, so the worker skips reading the row; but a message
    older than half the marker's life (a redelivery after the marker may be gone), or one without
    counts (the sweeper's), must read the row, whose absence means the batch is finished."""
    from domain.analytics import service as analytics
    from domain.analytics.counters import MARKER_TTL

    batch, org, counts = uuid.uuid4(), uuid.uuid4(), [["2026-11-30", 8, "page.view", "", 3]]
    assert analytics.carried(batch, org, counts, age_seconds=5).stored == 3
    assert analytics.carried(batch, org, counts, age_seconds=MARKER_TTL / 2 + 1) is None
    assert analytics.carried(batch, org, None, age_seconds=5) is None
    assert analytics.carried(batch, org, counts, age_seconds=None) is None
