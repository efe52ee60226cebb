"""Benchmark: from a trigger to the websocket, at a steady rate, with the whole stack.

    .venv/bin/python bench/notifications.py [--rate 100] [--seconds 30]
    make bench-smoke      (--smoke or BENCH_SMOKE=1: 20/s for 1 s, to prove it still runs)

Starts `objecta up` (embedded Postgres and Valkey, edge, relay, one worker
process for every queue, scheduler) in a temporary home, opens a websocket
to the relay as an agent manager, and sends `POST /v1/agents/{id}/errors`
at a steady rate (each records an error and notifies the agent's managers).
Latency is from sending the trigger to the `notification.created` event
arriving on the websocket: edge → Postgres → broker → fan-out → delivery
(save, badge, preferences, email queued) → Redis → relay → browser.

Baseline, measured in the same run: an event published straight into Redis
by the bench (the relay hop alone). Prints p50/p99 for both and, last,
`ratio=<notification p99 / relay-only p99>`.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import signal
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import httpx
import redis.asyncio as aioredis
from websockets.asyncio.client import connect

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from bench.http_client import Client, HTTPError  # noqa: E402
from bench.result import report, smoke, without_rate_limits  # noqa: E402
from domain.realtime import RedisPublisher, user_channel  # noqa: E402
from objecta.embedded import free_port  # noqa: E402


ROLES = (("uvicorn", "edge"), ("edge.relay", "relay"), ("dramatiq", "worker"), ("periodiq", "scheduler"),
         ("postgres", "postgres"), ("valkey", "valkey"), ("bench/notifications", "bench (load + browser)"))


ROOTS: set[int] = {os.getpid()}  # this bench and the stacks it started (start_stack adds them)


def cpu_by_role() -> dict[str, float]:
    """CPU seconds used so far by each kind of process of this bench's stack, from /proc.

    Only processes under this bench or a stack it started: other work on the machine (a test suite, another
    benchmark) runs processes with the same names."""
    tick = os.sysconf("SC_CLK_TCK")
    seen: dict[int, tuple[int, str, float]] = {}
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            cmdline = (entry / "cmdline").read_bytes().replace(b"\0", b" ").decode(errors="replace")
            fields = (entry / "stat").read_text().rsplit(")", 1)[1].split()
        except OSError:
            continue
        seen[int(entry.name)] = (int(fields[1]), cmdline, (int(fields[11]) + int(fields[12])) / tick)
    ours, grew = set(ROOTS) & set(seen), True
    while grew:
        grew = False
        for pid, (parent, _, _) in seen.items():
            if parent in ours and pid not in ours:
                ours.add(pid)
                grew = True
    totals: dict[str, float] = {}
    for pid in ours:
        _, cmdline, cpu = seen[pid]
        role = next((name for marker, name in ROLES if marker in cmdline), None)
        if role:
            totals[role] = totals.get(role, 0.0) + cpu
    return totals


def percentile(values: list[float], p: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(round(p / 100 * (len(ordered) - 1))))]


def start_stack(home: Path, extra_env: dict | None = None) -> tuple[subprocess.Popen, dict]:
    env = {**os.environ, **(extra_env or {}), "OBJECTA_HOME": str(home), "OBJECTA_ENV": "test", "BCRYPT_ROUNDS": "4",
           "EDGE_PORT": str(free_port()), "RELAY_PORT": str(free_port()), "LOG_LEVEL": "WARNING",
           "EMBEDDED_POSTGRES_PORT": str(free_port()), "EMBEDDED_REDIS_PORT": str(free_port()),
           "EMBEDDED_STRIPE_PORT": str(free_port())}
    for name in ("DATABASE_URL", "REDIS_URL", "BROKER_URL", "APP_DATABASE_URL"):
        env.pop(name, None)
    process = subprocess.Popen([sys.executable, "-m", "objecta.cli", "up"], cwd=ROOT, env=env,
                               stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    ROOTS.add(process.pid)
    banner = ""
    for line in process.stdout:
        banner += line
        if line.startswith("Press Ctrl-C"):
            return process, env
    raise SystemExit(f"objecta up did not start:\n{banner}")


async def measure(env: dict, rate: int, seconds: int) -> tuple[list[float], list[float], int]:
    edge = f"http://127.0.0.1:{env['EDGE_PORT']}"
    # The set-up through httpx; the load through the lean client (bench/http_client.py: httpx's pool was
    # the bottleneck). When the stack falls behind, triggers wait for one of its connections and the
    # lateness shows in the latencies.
    load = Client("127.0.0.1", int(env["EDGE_PORT"]), connections=64)
    async with httpx.AsyncClient(base_url=edge, timeout=60) as http:
        tokens = (await http.post("/v1/auth/signup", json={
            "email": "bench@example.com", "password": "bench password", "name": "Bench",
            "organization_name": "Bench"})).json()
        headers = {"Authorization": f"Bearer {tokens['access_token']}"}
        # In-app only: the outbox would fill with thousands of files.
        await http.put("/v1/notifications/preferences", headers=headers,
                       json={"preferences": {"agent.error": {"email": False}}})
        agent = (await http.post("/v1/agents", json={"name": "bench", "model": "gpt-4o"}, headers=headers)).json()
        sent: dict[str, float] = {}
        latencies: list[float] = []
        answered: list[float] = []  # the trigger's own HTTP answer: the edge's share of the latency
        url = f"ws://127.0.0.1:{env['RELAY_PORT']}/?token={tokens['access_token']}"
        # No keepalive pings: a busy bench loop would miss their deadline and close the socket mid-run.
        async with connect(url, max_size=None, ping_interval=None) as browser:
            async def listen(expected: int):
                while len(latencies) < expected:
                    event = json.loads(await browser.recv())
                    if event["type"] == "notification.created":
                        key = event["data"]["body"]
                        if key in sent:
                            latencies.append(time.perf_counter() - sent.pop(key))
                    elif event["type"] == "bench.ping":
                        latencies.append(time.perf_counter() - event["data"]["sent"])

            async def trigger(key: str):
                sent[key] = began = time.perf_counter()
                try:
                    status, answer = await load.post(f"/v1/agents/{agent['id']}/errors",
                                                     {"message": key, "code": "bench"}, headers)
                    if status != 201:
                        raise HTTPError(f"{status}: {answer}")
                    answered.append(time.perf_counter() - began)
                except HTTPError as error:  # counted as missing, named once at the end
                    failed.append(f"{key}: {error!r}")

            # Baseline: the relay hop alone, at the same rate.
            redis = aioredis.from_url(env_redis(env), decode_responses=True)
            publisher = RedisPublisher(redis)
            listener = asyncio.create_task(listen(rate * min(5, seconds)))
            for i in range(rate * min(5, seconds)):
                await publisher.publish(user_channel(tokens["user_id"]), "bench.ping", {"sent": time.perf_counter()})
                await asyncio.sleep(1 / rate)
            await asyncio.wait_for(listener, 30)
            baseline = list(latencies)
            latencies.clear()
            await redis.aclose()

            total = rate * seconds
            failed: list[str] = []
            cpu_before, clock = cpu_by_role(), time.monotonic()
            listener = asyncio.create_task(listen(total))
            tasks, started = [], time.perf_counter()
            for i in range(total):
                # A steady schedule, not "as fast as the last one returned".
                delay = started + i / rate - time.perf_counter()
                if delay > 0:
                    await asyncio.sleep(delay)
                tasks.append(asyncio.create_task(trigger(f"bench-{i}")))
            await asyncio.gather(*tasks)
            try:
                await asyncio.wait_for(listener, 60)
            except asyncio.TimeoutError:
                pass
            if failed:
                print(f"{len(failed)} triggers failed, the first: {failed[0]}")
            elapsed, cpu_after = time.monotonic() - clock, cpu_by_role()
            print("CPU during the run (share of one core): " + ", ".join(
                f"{role} {100 * (cpu_after.get(role, 0) - cpu_before.get(role, 0)) / elapsed:.0f}%"
                for _, role in ROLES))
            # Per trigger, the figure that does not depend on how long the queues took to drain.
            print("CPU per trigger (ms): " + ", ".join(
                f"{role} {1000 * (cpu_after.get(role, 0) - cpu_before.get(role, 0)) / total:.1f}"
                for _, role in ROLES))
            if answered:
                print(f"the edge answered the triggers in p50 {percentile(answered, 50) * 1000:.1f} ms, "
                      f"p99 {percentile(answered, 99) * 1000:.1f} ms")
            await load.close()
            return baseline, list(latencies), total - len(latencies)


def env_redis(env: dict) -> str:
    return f"redis://127.0.0.1:{env['EMBEDDED_REDIS_PORT']}/0"


def main() -> int:
    tiny = smoke()
    without_rate_limits()
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rate", type=int, default=20 if tiny else 100, help="notifications per second")
    parser.add_argument("--seconds", type=int, default=1 if tiny else 30)
    args = parser.parse_args()
    home = Path(tempfile.mkdtemp(prefix="objecta-bench-"))
    stack, env = start_stack(home)
    try:
        baseline, latencies, missing = asyncio.run(measure(env, args.rate, args.seconds))
    finally:
        stack.send_signal(signal.SIGINT)
        stack.wait(60)
    ms = lambda v: f"{v * 1000:7.1f}"  # noqa: E731
    print(f"{'':22} {'n':>6} {'p50 ms':>8} {'p99 ms':>8}")
    print(f"{'relay only (baseline)':22} {len(baseline):6d} {ms(percentile(baseline, 50))} {ms(percentile(baseline, 99))}")
    print(f"{'trigger -> websocket':22} {len(latencies):6d} {ms(percentile(latencies, 50))} "
          f"{ms(percentile(latencies, 99))}")
    print(f"rate={args.rate}/s for {args.seconds}s; missing={missing}")
    p99 = percentile(latencies, 99)
    print(f"ratio={p99 / percentile(baseline, 99):.2f}")
    lost = f", {missing} missing" if missing else ""
    report("notifications", figure=f"p99 {p99 * 1000:.0f} ms at {args.rate}/s{lost}",
           baseline=f"p99 {percentile(baseline, 99) * 1000:.1f} ms relay only",
           ratio=p99 / percentile(baseline, 99), target="p99 < 100 ms, none lost",
           met=p99 < 0.1 and missing == 0, note="ratio here is p99 / relay-only p99 (lower is better)")
    # It ran to the end: a notification missing within the wait is a figure (met: no), not a crash.
    return 0


if __name__ == "__main__":
    sys.exit(main())
