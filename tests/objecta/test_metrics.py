"""Every process exposes Prometheus figures, and they move with the work (real edge, pool, relay)."""

from __future__ import annotations

import json
import urllib.request

from prometheus_client.parser import text_string_to_metric_families

from domain.realtime import user_channel
from objecta.embedded import free_port, wait_for_port
from tests.fixtures.relay import publish
from tests.fixtures.worker import wait_for


def scrape(text: str) -> dict[tuple[str, tuple], float]:
    """{(sample name, sorted labels): value} of a Prometheus text exposition."""
    return {(sample.name, tuple(sorted(sample.labels.items()))): sample.value
            for family in text_string_to_metric_families(text) for sample in family.samples}


def value(samples, name: str, **labels) -> float:
    return samples.get((name, tuple(sorted(labels.items()))), 0.0)


def fetch(url: str) -> str:
    with urllib.request.urlopen(url, timeout=5) as response:
        assert response.status == 200
        return response.read().decode()


def test_the_edge_counts_requests_by_route_template_and_commands_accepted(client, owner):
    before = scrape(client.get("/metrics").text)
    agent = owner.post("/v1/agents", json={"name": "bot", "model": "gpt-4o"}).json()
    assert owner.post(f"/v1/agents/{agent['id']}/deploy").status_code == 202
    owner.get(f"/v1/agents/{agent['id']}")
    response = client.get("/metrics")
    assert response.headers["content-type"].startswith("text/plain")
    after = scrape(response.text)
    route = "/v1/agents/{agent_id}"
    assert value(after, "objecta_http_requests_total", method="GET", route=route, status="200") \
        == value(before, "objecta_http_requests_total", method="GET", route=route, status="200") + 1
    assert value(after, "objecta_http_request_duration_seconds_count", method="GET", route=route) \
        > value(before, "objecta_http_request_duration_seconds_count", method="GET", route=route)
    assert value(after, "objecta_commands_accepted_total", kind="agent.deploy") \
        == value(before, "objecta_commands_accepted_total", kind="agent.deploy") + 1
    assert agent["id"] not in response.text  # no ids in labels
    assert "/metrics" not in json.dumps(client.get("/schema/openapi.json").json()["paths"])


def test_a_worker_pool_exports_what_its_processes_did(owner, start_worker):
    port = free_port()
    worker = start_worker(["workers.agents"], env={"WORKER_METRICS_PORT": str(port)})
    agent = owner.post("/v1/agents", json={"name": "bot", "model": "gpt-4o"}).json()
    command_id = owner.post(f"/v1/agents/{agent['id']}/deploy").json()["command_id"]
    wait_for(lambda: owner.get(f"/v1/commands/{command_id}").json()["status"] == "succeeded", 30,
             what="the deploy")
    wait_for_port(port, worker.process, 30, "the pool's exporter", worker.log_path)
    # The queue is shared with earlier tests: a deploy one of them left queued may still be running when ours
    # shows, so wait for the pool to be idle too (every start has its end), not for the first figure.
    samples = wait_for(lambda: (s := scrape(fetch(f"http://127.0.0.1:{port}/metrics")))
                       and value(s, "objecta_queue_messages_processed_total", queue="agents",
                                 actor="agents.deploy") >= 1
                       and value(s, "objecta_queue_messages_in_progress", queue="agents") == 0 and s, 10,
                       what="the processed message in the figures, and nothing left in progress")
    assert value(samples, "objecta_commands_finished_total", kind="agent.deploy", status="succeeded") >= 1
    assert value(samples, "objecta_queue_message_duration_seconds_count", queue="agents", actor="agents.deploy") >= 1
    assert value(samples, "objecta_queue_messages_failed_total", queue="agents", actor="agents.deploy") == 0


def test_the_relay_serves_its_figures_on_its_port(start_relay, owner, settings):
    relay = start_relay()
    before = scrape(fetch(f"http://127.0.0.1:{relay.port}/metrics"))
    [event_id] = publish(settings, (user_channel(owner.user_id), "test.event", {"n": 1}))
    with relay.connect(owner, last_event_id=str(int(event_id) - 1)) as socket:  # replayed: no race with subscribing
        assert json.loads(socket.recv(timeout=10))["type"] == "test.event"
        during = scrape(fetch(f"http://127.0.0.1:{relay.port}/metrics"))
    assert value(during, "objecta_relay_connections") == value(before, "objecta_relay_connections") + 1
    assert value(during, "objecta_relay_messages_sent_total", kind="replay") \
        == value(before, "objecta_relay_messages_sent_total", kind="replay") + 1
    assert value(during, "objecta_relay_connections_opened_total") >= 1


def test_a_schedule_tick_is_counted_where_it_is_sent_and_where_it_runs(settings, start_worker):
    """The scheduler's side (ticks sent, last tick) and the maintenance pool's (ticks run, periods claimed)."""
    from datetime import datetime, timezone

    import dramatiq
    from prometheus_client import REGISTRY

    from objecta.broker import build_broker

    port = free_port()
    worker = start_worker(["workers.maintenance"], env={"WORKER_METRICS_PORT": str(port)})
    entry = "billing.prune_events"  # harmless to run now: it deletes handled events past their retention
    before_sent = REGISTRY.get_sample_value("objecta_scheduler_ticks_sent_total", {"entry": entry}) or 0
    broker = build_broker(settings)  # as periodiq sends it: the tick actor, with `scheduled_at`
    now = datetime.now(timezone.utc).replace(second=0, microsecond=0)
    broker.enqueue(dramatiq.Message(queue_name="maintenance", actor_name=f"schedules.{entry}", args=(), kwargs={},
                                    options={"scheduled_at": now.isoformat()}))
    broker.close()
    assert REGISTRY.get_sample_value("objecta_scheduler_ticks_sent_total", {"entry": entry}) == before_sent + 1
    assert REGISTRY.get_sample_value("objecta_scheduler_last_tick_timestamp_seconds", {"entry": entry}) \
        >= now.timestamp()
    wait_for_port(port, worker.process, 30, "the pool's exporter", worker.log_path)
    samples = wait_for(lambda: (s := scrape(fetch(f"http://127.0.0.1:{port}/metrics")))
                       and value(s, "objecta_schedule_ticks_total", entry=entry) >= 1 and s, 30,
                       what="the tick in the pool's figures")
    assert value(samples, "objecta_schedule_runs_claimed_total", entry=entry) == 1


def test_the_scheduler_exports_queue_figures_read_from_the_broker(settings):
    """Depth and dead letters per queue, from the same source as `objecta status` (objecta/queues.py)."""
    import uuid

    import dramatiq
    from prometheus_client import CollectorRegistry, generate_latest

    from objecta.broker import build_broker
    from objecta.metrics import QueueCollector

    name = f"metrics_{uuid.uuid4().hex[:8]}"
    broker = build_broker(settings)
    registry = CollectorRegistry()
    registry.register(QueueCollector(settings, [name]))
    try:
        broker.declare_queue(name)
        for n in range(2):
            broker.enqueue(dramatiq.Message(queue_name=name, actor_name="nobody.home", args=(n,), kwargs={},
                                            options={}))

        def scraped() -> dict:
            text = generate_latest(registry).decode()
            return {(s.name, s.labels.get("queue")): s.value
                    for family in text_string_to_metric_families(text) for s in family.samples}

        figures = scraped()
        assert figures[("objecta_queue_figures_up", None)] == 1
        assert figures[("objecta_queue_depth", name)] == 2
        assert figures[("objecta_queue_dead_letters", name)] == 0
        assert figures[("objecta_queue_consumers", name)] == 0
    finally:
        broker.flush(name)
        broker.close()


def test_queue_figures_say_so_when_the_broker_cannot_be_read(settings):
    from dataclasses import replace

    from prometheus_client import CollectorRegistry, generate_latest

    from objecta.metrics import QueueCollector

    unreachable = replace(settings, redis=replace(settings.redis, url="redis://127.0.0.1:9/0"),
                          broker=replace(settings.broker, url="redis://127.0.0.1:9/0"))
    registry = CollectorRegistry()
    registry.register(QueueCollector(unreachable, ["agents"]))
    text = generate_latest(registry).decode()
    assert "objecta_queue_figures_up 0.0" in text and 'objecta_queue_depth{' not in text
