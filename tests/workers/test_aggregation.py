"""The roll-up: set-based, idempotent, late days rolled up again, `objecta aggregate`, retention by partition.

Events are written straight into `analytics_events` as the owner here (the
ingest path has its own tests), each test in organizations of its own.
"""

from __future__ import annotations

import asyncio
import os
import subprocess
import sys
import uuid
from datetime import date, datetime, timedelta, timezone

import pytest
from sqlalchemy import create_engine, text

from domain.analytics import reports
from domain.db import Database, sqlalchemy_url
from tests.fixtures.relay import REPO

DAY = datetime.now(timezone.utc).date() - timedelta(days=5)


@pytest.fixture
def owner_sql(settings):
    engine = create_engine(sqlalchemy_url(settings.database.url))
    yield engine
    engine.dispose()


def _insert(owner_sql, org_id, day: date, name: str, agent_id=None, n: int = 1, hour: int = 12) -> None:
    with owner_sql.begin() as connection:
        connection.execute(text("select analytics_ensure_partition(:d)"), {"d": day})
        connection.execute(text("""
            insert into analytics_events (org_id, event_id, name, agent_id, occurred_at, received_at, batch_id)
            select :org, gen_random_uuid()::text, :name, :agent, :at, now(), gen_random_uuid()
            from generate_series(1, :n)"""), {"org": org_id, "name": name, "agent": agent_id, "n": n,
                                             "at": datetime(day.year, day.month, day.day, hour, tzinfo=timezone.utc)})


def _run(settings, work):
    async def body():
        db = Database(settings.database.app_url, 1)
        try:
            async with db.transaction(system=True) as session:
                return await work(session)
        finally:
            await db.dispose()
    return asyncio.run(body())


def _daily(owner, day: date) -> dict:
    report = owner.get("/v1/analytics/daily", params={"from": day.isoformat(), "to": day.isoformat()}).json()
    return {metric: values[0] for metric, values in report["series"].items()}


def test_a_day_is_rolled_up_and_again_to_the_same_rows(owner, settings, owner_sql):
    agent = owner.post("/v1/agents", json={"name": "a", "model": "m"}).json()["id"]
    _insert(owner_sql, owner.org_id, DAY, "message.created", agent, n=3)
    _insert(owner_sql, owner.org_id, DAY, "agent.error", agent)
    _insert(owner_sql, owner.org_id, DAY, "page.view", n=2)  # no agent
    _insert(owner_sql, owner.org_id, DAY + timedelta(days=1), "page.view", agent, hour=0)  # the next day
    _run(settings, lambda s: reports.aggregate_day(s, DAY))
    first = _daily(owner, DAY)
    assert first == {"events": 6, "messages": 3, "conversations": 0, "errors": 1, "deploys": 0, "active_agents": 1}
    rows = owner.get("/v1/analytics/agents", params={"from": DAY.isoformat(), "to": DAY.isoformat()}).json()["items"]
    assert [(r["agent_id"], r["name"], r["events"], r["messages"], r["errors"]) for r in rows] == [(agent, "a", 4, 3, 1)]
    _run(settings, lambda s: reports.aggregate_day(s, DAY))
    assert _daily(owner, DAY) == first
    with owner_sql.connect() as connection:
        counted = connection.execute(text("select count(*) from agent_metrics where org_id = :o"),
                                     {"o": owner.org_id}).scalar()
    assert counted == 1


def test_late_events_are_rolled_up_by_the_late_job(owner, settings, owner_sql):
    _insert(owner_sql, owner.org_id, DAY, "page.view", n=2)
    _run(settings, lambda s: reports.aggregate_day(s, DAY))
    assert _daily(owner, DAY)["events"] == 2
    _insert(owner_sql, owner.org_id, DAY, "page.view", n=5)  # arrived late...
    with owner_sql.begin() as connection:  # ...and the events worker marked the day, as it does
        connection.execute(text("insert into analytics_stale_days (org_id, day) values (:o, :d)"),
                           {"o": owner.org_id, "d": DAY})
    done = _run(settings, reports.aggregate_late)
    assert DAY in {summary.day for summary in done}
    assert _daily(owner, DAY)["events"] == 7
    assert _run(settings, reports.aggregate_late) == []  # taken once


def test_reports_stay_in_their_organization(owner, other_owner, settings, owner_sql):
    _insert(owner_sql, other_owner.org_id, DAY, "page.view", str(uuid.uuid4()), n=4)
    _run(settings, lambda s: reports.aggregate_day(s, DAY))
    assert _daily(other_owner, DAY)["events"] == 4
    assert _daily(owner, DAY)["events"] == 0
    mine = owner.get("/v1/analytics/agents", params={"from": DAY.isoformat(), "to": DAY.isoformat()}).json()
    assert mine["items"] == []


def _objecta(test_env, *args):
    return subprocess.run([sys.executable, "-m", "objecta.cli", "aggregate", *args], cwd=REPO,
                          env={**os.environ, **test_env}, capture_output=True, text=True, timeout=120)


def test_objecta_aggregate_runs_days_now_with_a_summary(owner, test_env, settings, owner_sql):
    _insert(owner_sql, owner.org_id, DAY, "page.view", n=3)
    done = _objecta(test_env, "--from", (DAY - timedelta(days=1)).isoformat(), "--to", DAY.isoformat())
    assert done.returncode == 0, done.stderr
    assert done.stdout.startswith(f"objecta: aggregated 2 day(s) {DAY - timedelta(days=1)}..{DAY}:")
    assert "2/2" in done.stderr  # the progress bar
    assert _daily(owner, DAY)["events"] == 3
    assert _objecta(test_env, "--date", "today").returncode == 0


@pytest.mark.parametrize("args", [("--date", "2026-13-01"), ("--date", "tomorrowish"),
                                  ("--from", "2026-02-02", "--to", "2026-02-01"), ("--from", "2026-02-01")])
def test_objecta_aggregate_refuses_bad_dates_in_one_line(test_env, settings, args):
    done = _objecta(test_env, *args)
    assert done.returncode == 2
    assert len(done.stderr.strip().splitlines()) == 1 and done.stderr.startswith("objecta: ")


def test_retention_drops_whole_partitions_and_keeps_the_rollups(owner, settings, owner_sql):
    old = date(2020, 3, 14)
    _insert(owner_sql, owner.org_id, old, "page.view", n=2)
    _run(settings, lambda s: reports.aggregate_day(s, old))
    today = datetime.now(timezone.utc).date()
    kept = _run(settings, lambda s: reports.keep_partitions(s, today, settings.analytics.retention_days))
    assert "analytics_events_p202003" in kept.dropped
    with owner_sql.connect() as connection:
        assert connection.execute(text("select to_regclass('analytics_events_p202003')")).scalar() is None
        names = set(connection.execute(text(
            "select c.relname from pg_inherits i join pg_class c on c.oid = i.inhrelid "
            "where i.inhparent = 'analytics_events'::regclass")).scalars())
    this_month = f"analytics_events_p{today:%Y%m}"
    assert this_month in names  # the current month is kept, and the next one is made ahead
    assert _daily(owner, old)["events"] == 2  # rolled-up figures outlive the raw events
