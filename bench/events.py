"""Benchmark: events committed end to end through the edge and the events worker, against a raw COPY.

    make bench            (or: .venv/bin/python bench/events.py [--batches 120] [--clients 8] [--orgs 4])
    make bench-smoke      (--smoke or BENCH_SMOKE=1: 8 batches of 100, to prove it still runs)

Starts the embedded Postgres and Valkey (or uses DATABASE_URL / REDIS_URL),
one uvicorn process (`--edge-processes`) with the real edge and one Dramatiq pool for the
`events` queue (1 process, 8 threads), signs up `--orgs` organizations with
an API key each, and has `--clients` threads post pre-encoded batches of
1,000 events (`--batches` in all) as fast as they are answered. The clock
stops when every event is in `analytics_events` and every batch is counted
(its `event_batches` row deleted by the worker). Then the same rows are
COPYed straight into `analytics_events` (the owner's connection, no edge, no
dedupe, no counters) and timed. A third row, the exactly-once floor, is the
least code doing the database work the pipeline must do: `--clients`
psycopg connections run the accepting statement itself (`repository.STORE`:
expand, dedupe against `analytics_event_ids`, insert, record the counts) on
pre-encoded batches of fresh events, as the owner, with no HTTP, edge or
worker. It shows how much of the gap to a raw COPY is the guarantee's own
price and how much is ours. Prints both rates, `ratio=<end to end /
raw COPY>` and the stage breakdown: edge accept (the client's latency of the
POST, which stores the events: decision 124), then in the events worker
queue wait, read (what the batch stored), counters (one Redis script) and
finish (alerts, push, delete the batch row), averaged per batch.
"""

from __future__ import annotations

import argparse
import http.client
import json
import os
import re
import shutil
import signal
import statistics
import subprocess
import sys
import tempfile
import threading
import time
import uuid
from datetime import datetime, timezone
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from bench.result import report, smoke, without_rate_limits  # noqa: E402

SIZE = 1000  # events per batch (the API's maximum); --size changes it


def _http(port: int, method: str, path: str, body: dict | None = None, token: str | None = None) -> dict:
    connection = http.client.HTTPConnection("127.0.0.1", port, timeout=30)
    headers = {"Content-Type": "application/json", **({"Authorization": f"Bearer {token}"} if token else {})}
    connection.request(method, path, body=json.dumps(body) if body is not None else None, headers=headers)
    response = connection.getresponse()
    payload = response.read()
    connection.close()
    if response.status >= 300:
        raise RuntimeError(f"{method} {path}: {response.status} {payload[:300]!r}")
    return json.loads(payload or b"{}")


def _batches(count: int, agents: list[str], size: int) -> list[bytes]:
    now = datetime.now(timezone.utc).isoformat()
    return [json.dumps({"events": [
        {"event_id": uuid.uuid4().hex, "name": "page.view", "agent_id": agents[i % len(agents)], "occurred_at": now,
         "properties": {"path": f"/docs/{i % 50}", "ms": i % 700}} for i in range(size)]}).encode()
        for _ in range(count)]


def _in_threads(items: list, resources: list, handle) -> None:
    """One thread per resource (a connection), each taking items until none are left: `handle(resource, item)`."""
    lock = threading.Lock()
    pending = list(items)

    def run(resource) -> None:
        while True:
            with lock:
                if not pending:
                    return
                item = pending.pop()
            handle(resource, item)

    threads = [threading.Thread(target=run, args=(resource,)) for resource in resources]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()


def _post_all(port: int, work: list[tuple[str, bytes]], clients: int) -> list[float]:
    latencies: list[float] = []
    connections = [http.client.HTTPConnection("127.0.0.1", port, timeout=60) for _ in range(clients)]

    def post(connection: http.client.HTTPConnection, item: tuple[str, bytes]) -> None:
        key, body = item
        started = time.monotonic()
        connection.request("POST", "/v1/events", body=body,
                           headers={"Content-Type": "application/json", "Authorization": f"Bearer {key}"})
        response = connection.getresponse()
        response.read()
        if response.status != 202:
            raise RuntimeError(f"POST /v1/events answered {response.status}")
        latencies.append(time.monotonic() - started)  # list.append is atomic

    _in_threads(work, connections, post)
    for connection in connections:
        connection.close()
    return latencies


def _stages(log: Path) -> dict[str, float]:
    found: dict[str, list[float]] = {}
    for line in log.read_text(errors="replace").splitlines():
        if "batch timing" in line:
            for name, value in re.findall(r"(\w+)_ms=([\d.-]+)", line):
                found.setdefault(name, []).append(float(value))
    return {name: statistics.mean(values) for name, values in found.items()}


def _wait(port: int, process: subprocess.Popen) -> None:
    for _ in range(300):
        try:
            if _http(port, "GET", "/readyz")["status"] == "ready":
                return
        except (OSError, RuntimeError):
            if process.poll() is not None:
                raise RuntimeError("the edge exited")
            time.sleep(0.1)
    raise RuntimeError("the edge did not become ready")


def main() -> int:
    tiny = smoke()
    without_rate_limits()
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--batches", type=int, default=8 if tiny else 120)
    parser.add_argument("--clients", type=int, default=2 if tiny else 8)
    parser.add_argument("--orgs", type=int, default=1 if tiny else 4)
    parser.add_argument("--size", type=int, default=100 if tiny else SIZE, help="events per batch")
    parser.add_argument("--edge-processes", type=int, default=1)
    parser.add_argument("--worker-threads", type=int, default=8)
    args = parser.parse_args()

    import psycopg

    from objecta import embedded
    from objecta import settings as settings_module
    from objecta.launcher import backing_services
    from objecta.migrate import migrate

    home = Path(tempfile.mkdtemp(prefix="objecta-bench-events-"))
    os.environ.update({"OBJECTA_HOME": str(home), "OBJECTA_ENV": "test", "BCRYPT_ROUNDS": "4",
                       "BROKER_NAMESPACE": f"bench-{os.getpid()}", "LOG_LEVEL": "WARNING",
                       # No Stripe stand-in: nothing here bills.
                       "STRIPE_SECRET_KEY": os.environ.get("STRIPE_SECRET_KEY", "sk_test_bench_unused"),
                       "EMBEDDED_POSTGRES_PORT": str(embedded.free_port()),
                       "EMBEDDED_REDIS_PORT": str(embedded.free_port()),
                       "EMBEDDED_STRIPE_PORT": str(embedded.free_port())})
    port = embedded.free_port()
    with backing_services(settings_module.load()) as (settings, servers):
        migrate(settings)
        edge = subprocess.Popen([sys.executable, "-m", "uvicorn", "--factory", "edge.app:create_app", "--port",
                                 str(port), "--no-access-log", "--log-level", "warning",
                                 "--workers", str(args.edge_processes)], cwd=ROOT)
        worker_log = home / "worker.log"
        with open(worker_log, "wb") as log:
            worker = subprocess.Popen(
                [sys.executable, "-m", "dramatiq", "workers.broker", "workers.events", "--processes", "1",
                 "--threads", str(args.worker_threads), "-v"], cwd=ROOT, stdout=log, stderr=subprocess.STDOUT,
                process_group=0,
                env={**os.environ, "LOG_LEVEL": "DEBUG", "dramatiq_worker_timeout": "100"})
        try:
            _wait(port, edge)
            work: list[tuple[str, bytes]] = []
            for n in range(args.orgs):
                token = _http(port, "POST", "/v1/auth/signup", {
                    "email": f"bench{n}@example.com", "password": "bench password", "name": "Bench",
                    "organization_name": f"Bench {n}"})["access_token"]
                key = _http(port, "POST", "/v1/api-keys", {"name": "bench"}, token)["key"]
                agents = [_http(port, "POST", "/v1/agents", {"name": f"a{i}", "model": "gpt-4o"}, token)["id"]
                          for i in range(5)]
                work += [(key, body) for body in _batches(args.batches // args.orgs, agents, args.size)]
            total = len(work) * args.size
            owner = psycopg.connect(settings.database.url, autocommit=True)
            def usage() -> dict[str, float]:
                found = {"edge": _cpu_tree(edge.pid), "worker": _cpu_tree(worker.pid)}
                for server in servers:
                    if server.name in ("postgres", "valkey"):
                        found[server.name] = _cpu_tree(server.process.pid, deep=True)
                return found
            cpu = usage()
            started = time.monotonic()
            latencies = _post_all(port, work, args.clients)
            accepted = time.monotonic() - started
            while owner.execute("select count(*) from analytics_events").fetchone()[0] < total:
                time.sleep(0.02)
            stored = time.monotonic() - started
            while owner.execute("select exists (select from event_batches)").fetchone()[0]:
                time.sleep(0.02)
            end_to_end = time.monotonic() - started
            cpu = {name: seconds - cpu[name] for name, seconds in usage().items()}

            raw_rows = _raw_rows(owner, total)
            started = time.monotonic()
            with owner.cursor() as cursor, cursor.copy(
                    "copy analytics_events (org_id, event_id, name, agent_id, occurred_at, received_at, "
                    "properties, batch_id) from stdin") as copy:
                copy.write(raw_rows)
            raw = time.monotonic() - started
            floor = _floor(settings.database.url, work, args.clients)
            owner.close()
            time.sleep(1)  # the last timing lines reach the log
            stages = _stages(worker_log)
            print(f"events: {total} in {len(work)} batches of {args.size}, {args.clients} clients, {args.orgs} orgs")
            print(f"end to end (stored and counted):             {total / end_to_end:10.0f} events/s "
                  f"({end_to_end:.2f} s; all accepted after {accepted:.2f} s, stored after {stored:.2f} s)")
            print(f"raw COPY into analytics_events:              {total / raw:10.0f} events/s ({raw:.2f} s)")
            print(f"stage breakdown per batch of {args.size} (ms): edge accept p50 "
                  f"{statistics.median(latencies) * 1000:.1f} / mean {statistics.mean(latencies) * 1000:.1f}, "
                  + ", ".join(f"{name.replace('_', ' ')} {value:.1f}" for name, value in stages.items()))
            print("CPU during the end-to-end run (share of one core): " + ", ".join(
                f"{name} {seconds / end_to_end * 100:.0f}%" for name, seconds in cpu.items())
                  + f" (the machine has {os.cpu_count()} cores)")
            print(f"exactly-once floor (STORE over {args.clients} connections): {total / floor:10.0f} events/s "
                  f"({floor:.2f} s) = {raw / floor:.3f} of the raw COPY")
            ratio = (total / end_to_end) / (total / raw)
            print(f"ratio={ratio:.3f} (end to end / raw COPY); end to end / floor = {floor / end_to_end:.3f}")
            report("events", figure=f"{total / end_to_end:,.0f} events/s", baseline=f"{total / raw:,.0f} rows/s COPY",
                   ratio=ratio, target=">= 0.5", met=ratio >= 0.5,
                   note=f"exactly-once floor {total / floor:,.0f}/s = {raw / floor:.2f} of COPY; "
                        f"ours {floor / end_to_end:.2f} of the floor")
        finally:
            edge.send_signal(signal.SIGTERM)
            worker.send_signal(signal.SIGTERM)
            edge.wait(20)
            worker.wait(20)
    shutil.rmtree(home, ignore_errors=True)
    return 0


def _cpu(pid: int) -> float:
    """User + system CPU seconds of one process so far, from /proc."""
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return sum(int(x) for x in fields[11:13]) / os.sysconf("SC_CLK_TCK")


def _cpu_tree(pid: int, deep: bool = False) -> float:
    """A process and its children (a Dramatiq pool's worker processes; Postgres' backends, when `deep`),
    counting children that are still alive."""
    total = _cpu(pid)
    for task in Path(f"/proc/{pid}/task").iterdir():
        for child in (task / "children").read_text().split():
            try:
                total += _cpu_tree(int(child), deep) if deep else _cpu(int(child))
            except FileNotFoundError:
                pass
    return total


def _floor(url: str, work: list[tuple[str, bytes]], clients: int) -> float:
    """Seconds for `clients` psycopg connections to run the accepting statement (repository.STORE) on
    every batch of `work`, with fresh event_ids, as the owner: the database work without our code."""
    import psycopg

    from sqlalchemy import text

    from domain.analytics.repository import STORE
    from domain.db import driver_sql

    sql = driver_sql(text(STORE))
    owner = psycopg.connect(url, autocommit=True)
    orgs = [row[0] for row in owner.execute("select id from organizations order by id")]
    owner.close()
    batches = []
    for n, (_, body) in enumerate(work):
        events = sorted([uuid.uuid4().hex, e["name"], e.get("agent_id"), e["occurred_at"], e.get("properties")]
                        for e in json.loads(body)["events"])
        batches.append({"batch": uuid.uuid4(), "org": orgs[n % len(orgs)], "received": datetime.now(timezone.utc),
                        "n": len(events), "events": json.dumps(events)})
    connections = [psycopg.connect(url) for _ in range(clients)]

    def store(connection, params: dict) -> None:
        connection.execute(sql, params).fetchall()
        connection.commit()

    started = time.monotonic()
    _in_threads(batches, connections, store)
    elapsed = time.monotonic() - started
    for connection in connections:
        connection.close()
    return elapsed


def _raw_rows(owner, total: int) -> bytes:
    """The same rows, as COPY text, copied with a fresh batch id: what the pipeline stored, again."""
    with owner.cursor() as cursor:
        buffer = bytearray()
        with cursor.copy("copy (select org_id, event_id, name, agent_id, occurred_at, received_at, properties, "
                         f"gen_random_uuid() from analytics_events limit {total}) to stdout") as copy:
            for chunk in copy:
                buffer += chunk
    return bytes(buffer)


if __name__ == "__main__":
    sys.exit(main())
