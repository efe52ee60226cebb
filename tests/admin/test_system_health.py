"""System health and `objecta status`: one report, real queue figures, heartbeats that expire, overdue schedules."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time
import uuid
from datetime import datetime, timedelta, timezone
from types import SimpleNamespace

import dramatiq
import pytest
import redis
from sqlalchemy import create_engine, text

from domain.db import sqlalchemy_url
from objecta import heartbeat, health
from objecta.broker import build_broker
from objecta.queues import known_queues, queue_figures
from tests.admin.helpers import signed_in_admin
from tests.fixtures.worker import ALL_QUEUES, wait_for

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))


def _queue(settings, name: str):
    return next(q for q in queue_figures(settings, [name]))


def _owner_sql(settings, statement: str, **params):
    engine = create_engine(sqlalchemy_url(settings.database.url))
    try:
        with engine.begin() as connection:
            connection.execute(text(statement), params)
    finally:
        engine.dispose()


@pytest.mark.skipif((os.environ.get("BROKER_URL") or "").startswith("amqp"), reason="the Redis broker's layout")
def test_depth_oldest_and_dead_letters_of_a_redis_queue(settings):
    """Messages sent and not consumed are counted with their age; a rejected one is a dead letter."""
    name = f"health_{uuid.uuid4().hex[:8]}"
    broker = build_broker(settings)
    try:
        broker.declare_queue(name)
        for n in range(3):
            broker.enqueue(dramatiq.Message(queue_name=name, actor_name="nobody.home", args=(n,), kwargs={},
                                            options={}))
        time.sleep(1.1)
        figures = _queue(settings, name)
        assert (figures.depth, figures.dead_letters, figures.consumers) == (3, 0, 0)
        assert figures.oldest_age_seconds >= 1.0
        consumer = broker.consume(name, prefetch=1, timeout=1000)
        message = next(m for m in consumer if m is not None)
        assert _queue(settings, name).in_flight == 1
        consumer.nack(message)  # what Dramatiq does with a message out of retries
        consumer.close()
        figures = _queue(settings, name)
        assert (figures.depth, figures.in_flight, figures.dead_letters) == (2, 0, 1)
    finally:
        broker.flush(name)
        broker.close()


def test_a_heartbeat_expires_when_its_process_stops_beating(settings):
    beat = heartbeat.WorkerHeartbeat(redis_url=settings.redis.url, namespace=f"hb{uuid.uuid4().hex[:6]}",
                                     interval=0.2, ttl=1)
    worker = SimpleNamespace(consumer_whitelist={"agents", "agents.DQ"}, worker_threads=3)
    beat.after_worker_boot(None, worker)
    client = redis.Redis.from_url(settings.redis.url)
    try:
        beats = wait_for(lambda: heartbeat.read_beats(client, beat.namespace, "worker"), 5, what="a beat")
        assert beats[0]["queues"] == ["agents"] and beats[0]["pid"] == os.getpid()
        beat._stopping.set()  # a hung or killed process: it stops beating and deletes nothing
        time.sleep(0.5)
        assert heartbeat.read_beats(client, beat.namespace, "worker") != []
        wait_for(lambda: heartbeat.read_beats(client, beat.namespace, "worker") == [], 5, what="the beat to expire")
    finally:
        client.close()


def test_a_stopped_pool_shows_as_a_growing_queue_without_workers(client, settings, owner, start_worker):
    admin = signed_in_admin(client, settings, role="support")
    pool = start_worker(["workers.agents"])
    wait_for(lambda: _queue(settings, "agents").consumers == 1, 30, what="the agents pool's heartbeat")
    report = admin.get("/admin/v1/system/health").json()
    assert any(w["queues"] == ["agents"] for w in report["workers"])
    pool.stop()
    assert _queue(settings, "agents").consumers == 0  # a clean stop leaves at once
    agent = owner.post("/v1/agents", json={"name": "Health", "model": "m"}).json()
    before = _queue(settings, "agents").depth
    for _ in range(3):
        assert owner.post(f"/v1/agents/{agent['id']}/deploy").status_code == 202
    assert _queue(settings, "agents").depth >= before + 3
    report = admin.get("/admin/v1/system/health").json()
    agents = next(q for q in report["queues"] if q["name"] == "agents")
    assert agents["depth"] >= 3 and agents["consumers"] == 0
    # RabbitMQ cannot tell how long the next message has waited without consuming it: unknown, not zero.
    rabbitmq = (os.environ.get("BROKER_URL") or "").startswith("amqp")
    assert (agents["oldest_age_seconds"] is None) == rabbitmq
    assert report["status"] == "degraded"
    assert any(p.startswith("queue agents:") and "no live worker" in p for p in report["problems"])
    start_worker(["workers.agents"])
    wait_for(lambda: _queue(settings, "agents").depth == 0, 60, what="the pool to drain the queue")


def test_health_reports_dependencies_schedules_stripe_and_failed_commands(client, settings):
    admin = signed_in_admin(client, settings, role="billing")
    now = datetime.now(timezone.utc).replace(second=0, microsecond=0)
    # The sweeper's latest claimed minute, ten minutes ago: the scheduler has stopped.
    _owner_sql(settings, "delete from scheduled_runs where job = 'commands.sweep'")
    _owner_sql(settings, "insert into scheduled_runs (job, scheduled_for, status) values ('commands.sweep', :p, "
                         "'succeeded')", p=now - timedelta(minutes=10))
    before = admin.get("/admin/v1/system/health").json()["stripe_events_unhandled"]
    _owner_sql(settings, "insert into stripe_events (id, type, payload, received_at) values (:i, 'x.y', '{}', :r)",
               i=f"evt_health_{uuid.uuid4().hex}", r=now - timedelta(minutes=30))
    report = admin.get("/admin/v1/system/health").json()
    assert {d["name"]: d["ok"] for d in report["dependencies"]}.items() >= {"postgres": True, "redis": True}.items()
    assert all(d["latency_ms"] is not None for d in report["dependencies"])
    sweep = next(s for s in report["schedules"] if s["job"] == "commands.sweep")
    assert sweep["overdue"] is True and sweep["last_status"] == "succeeded"
    assert any(p.startswith("schedule commands.sweep") for p in report["problems"])
    assert report["stripe_events_unhandled"] == before + 1
    assert any("Stripe event(s) unhandled" in p for p in report["problems"])
    assert isinstance(report["failed_commands_last_hour"], int)
    assert {q["name"] for q in report["queues"]} >= {"agents", "billing", "email", "maintenance", "notifications"}
    _owner_sql(settings, "insert into scheduled_runs (job, scheduled_for, status) values ('commands.sweep', :p, "
                         "'succeeded')", p=now)
    report = admin.get("/admin/v1/system/health").json()
    assert next(s for s in report["schedules"] if s["job"] == "commands.sweep")["overdue"] is False
    _owner_sql(settings, "update stripe_events set handled_at = now() where id like 'evt_health_%'")


def test_health_and_dashboard_reads_are_audited(client, settings):
    admin = signed_in_admin(client, settings)
    assert admin.get("/admin/v1/system/health").status_code == 200
    assert admin.get("/admin/v1/dashboard").status_code == 200
    rows = admin.get("/admin/v1/audit-logs", params={"admin_id": admin.id}).json()["items"]
    assert {"system.health", "dashboard.read"} <= {r["action"] for r in rows}


def test_the_relay_counts_its_websockets(client, settings, owner, start_relay):
    admin = signed_in_admin(client, settings, role="support")
    relay = start_relay()
    with relay.connect(owner):
        wait_for(lambda: (admin.get("/admin/v1/system/health").json()["relay_connections"] or 0) >= 1, 25,
                 interval=1, what="the relay's count")


def test_objecta_status_prints_the_same_report(test_env, settings):
    env = {**os.environ, **test_env}
    as_json = subprocess.run([sys.executable, "-m", "objecta.cli", "status", "--json"], env=env, cwd=ROOT,
                             capture_output=True, text=True, timeout=60)
    found = json.loads(as_json.stdout)
    assert as_json.returncode == (0 if found["status"] == "ok" else 1), as_json.stderr
    assert {q["name"] for q in found["queues"]} >= {"agents", "events", "team"}
    assert {"dependencies", "schedules", "workers", "relay_connections", "failed_commands_last_hour"} <= set(found)
    screen = subprocess.run([sys.executable, "-m", "objecta.cli", "status"], env=env, cwd=ROOT,
                            capture_output=True, text=True, timeout=60)
    assert "queue" in screen.stdout and "agents" in screen.stdout and "commands.sweep" in screen.stdout, screen.stderr


def test_every_queue_is_known():
    assert set(known_queues()) == {module.removeprefix("workers.") for module in ALL_QUEUES}


def test_schedule_figures_never_ran_is_not_overdue():
    now = datetime.now(timezone.utc)
    figures = {f.job: f for f in health.schedule_figures({}, now)}
    assert figures["commands.sweep"].overdue is None and figures["commands.sweep"].last_period is None


@pytest.mark.skipif(not (os.environ.get("BROKER_URL") or "").startswith("amqp"), reason="only with RabbitMQ")
def test_rabbitmq_queue_figures_have_no_oldest_age(settings):
    figures = queue_figures(settings, ["agents"])[0]
    assert figures.oldest_age_seconds is None and figures.in_flight is None and figures.depth >= 0
