"""Prometheus metrics of every process, declared once (prometheus-client).

Each process exposes what it counts the way its server can:
- edge: `GET /metrics` on its own port (`edge/routes/metrics.py`, left out of the
  OpenAPI document: it is for the scraper, not for clients);
- relay: `GET /metrics` on the websocket port, beside `/healthz`;
- a worker pool: an HTTP exporter on `WORKER_METRICS_PORT`, run by Dramatiq as a
  fork of the pool's main process (the `forks` of `WorkerMetrics`), summing the
  files its worker processes write (prometheus-client's multi-process mode);
- the scheduler: an HTTP exporter on `SCHEDULER_METRICS_PORT`.

Dramatiq ships a Prometheus middleware; it is not used: it keeps its files in
one fixed temporary folder and one port per host (two pools on a host clear each
other's figures), and names its metrics its own way. `WorkerMetrics` is the same
idea on the same client, with a folder per pool run (under `METRICS_DIR`, named
after the pool's main process, so a restart never sums a previous run's files).

prometheus-client decides at import whether to write files, so nothing here
imports it before `use_multiprocess_dir` had its chance: metrics are declared on
first use (`m()`). Labels are bounded: queues, actors, route templates, command
kinds, schedule entries, outcomes; never ids.
"""

from __future__ import annotations

import logging
import os
import sys
import threading
import time
from functools import cache
from pathlib import Path
from types import SimpleNamespace

import dramatiq
from dramatiq.common import q_name

# Seconds: a request of the edge, a message of a worker (commands may take minutes).
REQUEST_BUCKETS = (0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10)
MESSAGE_BUCKETS = (0.01, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60, 300, 900)


log = logging.getLogger(__name__)
_declaring = threading.Lock()


def m() -> SimpleNamespace:
    """Every metric of the platform (each process uses its own few; unused ones export nothing)."""
    # Worker threads meet here at once for their first message: declaring twice raises DuplicateTimeseries.
    with _declaring:
        return _declare()


@cache
def _declare() -> SimpleNamespace:
    from prometheus_client import Counter, Gauge, Histogram

    return SimpleNamespace(
        http_requests=Counter("objecta_http_requests_total", "Edge requests answered",
                              ["method", "route", "status"]),
        http_duration=Histogram("objecta_http_request_duration_seconds", "Edge request latency",
                                ["method", "route"], buckets=REQUEST_BUCKETS),
        commands_accepted=Counter("objecta_commands_accepted_total", "Commands accepted by the edge (202)",
                                  ["kind"]),
        commands_finished=Counter("objecta_commands_finished_total", "Commands finished by workers",
                                  ["kind", "status"]),
        commands_retried=Counter("objecta_commands_retried_total", "Command attempts that failed transiently",
                                 ["kind"]),
        messages_processed=Counter("objecta_queue_messages_processed_total", "Messages a worker finished",
                                   ["queue", "actor"]),
        messages_failed=Counter("objecta_queue_messages_failed_total", "Messages whose delivery raised",
                                ["queue", "actor"]),
        messages_dead=Counter("objecta_queue_messages_dead_lettered_total", "Messages given up on (dead letters)",
                              ["queue", "actor"]),
        message_duration=Histogram("objecta_queue_message_duration_seconds", "Time a worker spent on a message",
                                   ["queue", "actor"], buckets=MESSAGE_BUCKETS),
        messages_in_progress=Gauge("objecta_queue_messages_in_progress", "Messages being worked on now",
                                   ["queue"], multiprocess_mode="livesum"),
        relay_connections=Gauge("objecta_relay_connections", "Open websockets", multiprocess_mode="livesum"),
        relay_connections_opened=Counter("objecta_relay_connections_opened_total", "Websockets accepted"),
        relay_sent=Counter("objecta_relay_messages_sent_total", "Events sent to clients", ["kind"]),
        relay_messages_dropped=Counter("objecta_relay_messages_dropped_total",
                                       "Queued events discarded with a dropped client (it replays them)"),
        relay_dropped=Counter("objecta_relay_clients_dropped_total", "Clients closed by the relay", ["reason"]),
        scheduler_ticks_sent=Counter("objecta_scheduler_ticks_sent_total", "Ticks the scheduler sent", ["entry"]),
        scheduler_last_tick=Gauge("objecta_scheduler_last_tick_timestamp_seconds",
                                  "When the scheduler last sent a tick of the entry", ["entry"],
                                  multiprocess_mode="max"),
        schedule_ticks=Counter("objecta_schedule_ticks_total", "Ticks a worker ran", ["entry"]),
        schedule_claimed=Counter("objecta_schedule_runs_claimed_total", "Periods claimed and sent", ["entry"]),
        stripe_webhooks=Counter("objecta_stripe_webhooks_total", "Stripe webhook deliveries by outcome",
                                ["outcome"]),
        emails=Counter("objecta_emails_total", "Emails by outcome", ["outcome"]),
    )


# Per queue, read from the broker at scrape time (objecta/queues.py: the source `objecta status` and the admin
# health route read too). Sample name -> (help, QueueFigures field); a field that is unknown (None) exports
# no sample rather than a made-up zero (RabbitMQ cannot tell the oldest message's age without consuming).
QUEUE_GAUGES = {
    "objecta_queue_depth": ("Messages waiting to be fetched", "depth"),
    "objecta_queue_delayed": ("Retries and deferrals waiting for their time", "delayed"),
    "objecta_queue_oldest_message_age_seconds": ("How long the next message has waited", "oldest_age_seconds"),
    "objecta_queue_dead_letters": ("Messages in the dead-letter queue", "dead_letters"),
    "objecta_queue_consumers": ("Live worker processes consuming the queue (heartbeats)", "consumers"),
}


class QueueCollector:
    """Queue figures for Prometheus, read when scraped; registered in the scheduler's exporter only.

    One process reads the broker for everybody: every pool exporting the same global figures would
    multiply the broker's reads by the number of pools and the series by as many instances. A scrape that
    cannot reach the broker exports no queue samples and `objecta_queue_figures_up 0`.
    """

    def __init__(self, settings, queues=None):
        self.settings, self.queues = settings, queues  # queues: None for every queue the platform has

    def describe(self):
        return []  # nothing at registration: reading the broker then would make start-up depend on it

    def collect(self):
        from prometheus_client.core import GaugeMetricFamily

        from objecta.queues import queue_figures

        try:
            figures, up = queue_figures(self.settings, self.queues), 1
        except Exception as error:  # noqa: BLE001 - a scrape must not fail with the broker
            log.warning("queue figures unavailable: %s", error)
            figures, up = [], 0
        yield GaugeMetricFamily("objecta_queue_figures_up", "Whether the broker answered this scrape", value=up)
        for name, (description, field) in QUEUE_GAUGES.items():
            family = GaugeMetricFamily(name, description, labels=["queue"])
            for queue in figures:
                value = getattr(queue, field)
                if value is not None:
                    family.add_metric([queue.name], value)
            yield family


def metrics_dir(base: str | os.PathLike, pool_pid: int) -> Path:
    return Path(base) / f"pool-{pool_pid}"


def use_multiprocess_dir(folder: Path) -> None:
    """Before prometheus-client is imported: this process writes its figures to `folder`."""
    folder.mkdir(parents=True, exist_ok=True)
    os.environ["PROMETHEUS_MULTIPROC_DIR"] = str(folder)


def exposition(folder: str | None = None) -> tuple[bytes, str]:
    """The text a scrape gets: this process's registry, or every process's files in multi-process mode."""
    from prometheus_client import CONTENT_TYPE_LATEST, REGISTRY, CollectorRegistry, generate_latest
    from prometheus_client.multiprocess import MultiProcessCollector

    folder = folder or os.environ.get("PROMETHEUS_MULTIPROC_DIR")
    registry = REGISTRY
    if folder:
        registry = CollectorRegistry()
        MultiProcessCollector(registry, path=folder)
    return generate_latest(registry), CONTENT_TYPE_LATEST


def serve(port: int, folder: str | None = None, host: str = "0.0.0.0") -> None:
    """An exporter thread on `port` (the scheduler's; the worker pool's fork blocks on it)."""
    from prometheus_client import CollectorRegistry, REGISTRY, start_http_server
    from prometheus_client.multiprocess import MultiProcessCollector

    registry = REGISTRY
    if folder:
        registry = CollectorRegistry()
        MultiProcessCollector(registry, path=folder)
    start_http_server(port, addr=host, registry=registry)


def serve_pool() -> int:
    """Dramatiq runs this in a fork of the pool's main process: the pool's exporter."""
    from objecta.settings import load

    settings = load()
    folder = metrics_dir(settings.observability.metrics_dir, os.getppid())
    folder.mkdir(parents=True, exist_ok=True)
    try:
        serve(settings.observability.worker_metrics_port, str(folder), settings.http.host)
    except OSError as error:  # the port is taken: the pool works on, unscraped; say so in its log
        print(f"objecta: no metrics exporter for this pool: {error}", file=sys.stderr)
        return 1
    while True:
        time.sleep(3600)


class WorkerMetrics(dramatiq.Middleware):
    """Per queue and actor: processed, failed, dead-lettered, time spent; ticks the scheduler sends."""

    def __init__(self, base_dir: str, port: int):
        self.base_dir, self.port = base_dir, port
        self._started: dict[str, float] = {}

    @property
    def forks(self):
        return [serve_pool] if self.port else []

    def after_process_boot(self, broker) -> None:
        use_multiprocess_dir(metrics_dir(self.base_dir, os.getppid()))
        m()  # declared before the worker threads start, not by the first message

    def after_worker_shutdown(self, broker, worker) -> None:
        folder = os.environ.get("PROMETHEUS_MULTIPROC_DIR")
        if folder:
            from prometheus_client import multiprocess
            multiprocess.mark_process_dead(os.getpid(), folder)

    def before_process_message(self, broker, message) -> None:
        m().messages_in_progress.labels(q_name(message.queue_name)).inc()
        self._started[message.message_id] = time.monotonic()  # only once counted in: `after` counts it out

    def after_process_message(self, broker, message, *, result=None, exception=None) -> None:
        began = self._started.pop(message.message_id, None)
        if began is None:
            return
        queue, actor = q_name(message.queue_name), message.actor_name
        metrics = m()
        metrics.messages_in_progress.labels(queue).dec()
        metrics.message_duration.labels(queue, actor).observe(time.monotonic() - began)
        (metrics.messages_failed if exception is not None else metrics.messages_processed).labels(queue, actor).inc()

    def after_skip_message(self, broker, message) -> None:
        # Deferred before it ran (the organization's share of the queue was full): not a delivery.
        if self._started.pop(message.message_id, None) is not None:
            m().messages_in_progress.labels(q_name(message.queue_name)).dec()

    def after_nack(self, broker, message) -> None:
        m().messages_dead.labels(q_name(message.queue_name), message.actor_name).inc()

    def after_enqueue(self, broker, message, delay) -> None:
        # periodiq sends each tick with `scheduled_at`; only the scheduler process does.
        if "scheduled_at" in message.options and message.actor_name.startswith("schedules."):
            entry = message.actor_name.removeprefix("schedules.")
            m().scheduler_ticks_sent.labels(entry).inc()
            m().scheduler_last_tick.labels(entry).set(time.time())
