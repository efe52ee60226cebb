"""Schedules: one run per tick however many schedulers, catch-up, and the sweeper."""

from __future__ import annotations

import asyncio
import os
import subprocess
import sys
import uuid
from datetime import datetime, timedelta, timezone
from pathlib import Path

import pendulum
import pytest
from periodiq import cron
from sqlalchemy import create_engine, text

from domain.agents import service as agents
from domain.db import Database, sqlalchemy_url
from objecta import wiring
from domain.jobs import Job
from domain.scheduling import service as scheduling
from objecta.broker import BrokerSender, build_broker
from tests.fixtures.worker import wait_for

DAILY_AT_2 = cron("0 2 * * *")


def _next_after(moment):
    return DAILY_AT_2.next_valid_date(pendulum.instance(moment)).in_timezone("UTC")


def test_due_periods_without_and_with_catch_up():
    tick = datetime(2026, 11, 26, 2, 0, tzinfo=timezone.utc)
    assert scheduling.due_periods(tick, _next_after, None, None) == [tick]
    three_nights_ago = tick - timedelta(days=3)
    assert scheduling.due_periods(tick, _next_after, timedelta(days=7), three_nights_ago) == [
        tick - timedelta(days=2), tick - timedelta(days=1), tick]
    # Never further back than the window.
    assert len(scheduling.due_periods(tick, _next_after, timedelta(days=7), None)) == 7


def _in_system(settings, body, jobs=None):
    async def run():
        db = Database(settings.database.app_url, pool_size=2, jobs=jobs)
        try:
            return await body(db)
        finally:
            await db.dispose()
    return asyncio.run(run())


def test_two_ticks_for_one_period_claim_it_once(settings):
    job, tick = f"test.once.{uuid.uuid4().hex[:8]}", datetime(2026, 11, 26, 2, 0, tzinfo=timezone.utc)

    async def claim(db):
        async with db.transaction(system=True) as session:
            return await scheduling.claim_due(session, job, tick, _next_after, None)

    async def body(db):
        return await asyncio.gather(claim(db), claim(db))

    assert sorted(map(len, _in_system(settings, body))) == [0, 1]


def test_catch_up_runs_every_missed_night_once(settings):
    job = f"test.catch_up.{uuid.uuid4().hex[:8]}"
    tick = datetime(2026, 11, 26, 2, 0, tzinfo=timezone.utc)

    async def body(db):
        async with db.transaction(system=True) as session:
            await scheduling.claim_due(session, job, tick - timedelta(days=3), _next_after, None)
            await scheduling.finish(session, job, tick - timedelta(days=3))
        async with db.transaction(system=True) as session:
            first = await scheduling.claim_due(session, job, tick, _next_after, timedelta(days=7))
        async with db.transaction(system=True) as session:
            again = await scheduling.claim_due(session, job, tick, _next_after, timedelta(days=7))
            await scheduling.finish(session, job, tick - timedelta(days=2), error="boom")
        async with db.transaction(system=True) as session:
            retried = await scheduling.claim_due(session, job, tick + timedelta(minutes=1), _next_after,
                                                 timedelta(days=7))
        return first, again, retried

    first, again, retried = _in_system(settings, body)
    assert first == [tick - timedelta(days=2), tick - timedelta(days=1), tick]
    assert again == []
    # A failed night is claimed again by the next tick; the others are not.
    assert tick - timedelta(days=2) in retried and tick - timedelta(days=1) not in retried


def test_the_sweeper_resends_a_command_whose_enqueue_was_lost(settings, owner, worker):
    agent = owner.post("/v1/agents", json={"name": "bot", "model": "gpt-4o"}).json()

    class LostBroker:
        def send(self, job):
            pass  # the broker was unreachable right after the commit

    async def submit(db):
        org, user = uuid.UUID(owner.org_id), uuid.UUID(owner.user_id)
        async with db.transaction(org_id=org, user_id=user) as session:
            return await agents.request_deploy(session, uuid.UUID(agent["id"]), user_id=user,
                                               limits=wiring.plan_limits(settings), idempotency=None)

    command = _in_system(settings, submit, jobs=LostBroker())
    engine = create_engine(sqlalchemy_url(settings.database.url))
    with engine.begin() as connection:
        connection.execute(text("update commands set updated_at = now() - interval '1 hour' where id = :i"),
                           {"i": command.id})
    engine.dispose()
    assert owner.get(f"/v1/commands/{command.id}").json()["status"] == "queued"

    broker = build_broker(settings)
    BrokerSender(broker).send(Job("maintenance", "commands.sweep", (datetime.now(timezone.utc).isoformat(),)))
    broker.close()
    done = wait_for(lambda: (c := owner.get(f"/v1/commands/{command.id}").json())["status"] == "succeeded" and c,
                    30, what="the swept command to complete")
    assert done["attempts"] == 1


@pytest.mark.timeout(180)
def test_two_scheduler_processes_produce_one_run_per_tick(settings, test_env, worker, tmp_path):
    env = {**os.environ, **test_env, "TZ": "UTC"}
    periodiq = str(Path(sys.executable).parent / "periodiq")
    schedulers = [subprocess.Popen([periodiq, "workers.broker", "workers.maintenance"], env=env,
                                   stdout=open(tmp_path / f"scheduler-{i}.log", "wb"), stderr=subprocess.STDOUT)
                  for i in range(2)]
    engine = create_engine(sqlalchemy_url(settings.database.url))
    # Periods are whole minutes; the one the schedulers start in counts.
    started = datetime.now(timezone.utc).replace(second=0, microsecond=0)

    def sent_by_both(run) -> bool:
        minute = run[0].astimezone(timezone.utc).strftime("%Y-%m-%d %H:%M:")
        return all(f"Scheduling Actor(schedules.commands.sweep) at {minute}" in
                   (tmp_path / f"scheduler-{i}.log").read_text() for i in range(2))

    def runs_of_a_tick_both_sent():
        """The succeeded sweeps, once one of them is of a minute both schedulers ticked (under load one
        may start too late for the first minute: then the next one counts)."""
        with engine.connect() as connection:
            runs = connection.execute(text(
                "select scheduled_for, attempts from scheduled_runs where job = 'commands.sweep' "
                "and scheduled_for >= :t and status = 'succeeded'"), {"t": started}).all()
        return runs if any(sent_by_both(run) for run in runs) else None

    try:
        runs = wait_for(runs_of_a_tick_both_sent, 150, interval=1, what="a sweep of a tick both schedulers sent")
    finally:
        for scheduler in schedulers:
            scheduler.terminate()
            scheduler.wait(10)
        engine.dispose()
    # Both schedulers sent that tick, and it ran once: no run was attempted twice.
    assert [attempts for _, attempts in runs] == [1] * len(runs)
