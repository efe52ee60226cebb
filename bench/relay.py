"""Benchmark: one relay process holding many websockets, and one organization event fanned out to 1,000 of them.

    .venv/bin/python bench/relay.py [--connections 10000] [--fanout 1000] [--generators 4]
    make bench-smoke      (--smoke or BENCH_SMOKE=1: 40 sockets, a few events, to prove it still runs)

Starts the embedded Postgres and Valkey, migrates, signs up one organization per
`--fanout` sockets (directly through `AccountService.signup` and `start_session`,
as the edge's routes do: real access tokens the relay verifies and rechecks),
and starts one relay (`python -m edge.relay`). The relay's per-session limits
stay the defaults (10 websockets open, 30 handshakes a minute per login
session): the owner of each organization logs in as many times as that needs
(100 sessions of 10 sockets per 1,000), so the relay runs the admission, the
slot and the minute's recheck for each socket as it would for browsers.

Load generators are child processes (`--generators`, each an asyncio client on
`websockets`), on loopback. The bench raises RLIMIT_NOFILE to the hard limit
for itself and its children (never the system's) and stops when that is too low.

Measured, for the relay and then for a bare `websockets` server written here
(`serve_bare`: a separate process, no authentication, no queue, the same Redis
topic read with redis-py and `broadcast()` to the sockets of the organization):
- RSS of the server process (VmRSS) before and after the sockets open -> KiB per connection;
- fan-out latency: events published one at a time on the first organization's
  channel the way workers do (`domain.realtime.RedisPublisher`), each carrying
  its publication time; p50/p99 over every delivery to its `--fanout` sockets;
- fan-out throughput: bursts of `--burst` events published back to back;
  deliveries per second from the first publication to the last delivery (median of 3).
ratio = relay throughput / bare throughput (issue 15: >= 0.5), and the target is
also < 400 MiB RSS at 10,000 sockets and p99 < 100 ms. The CPU of the load
generators is printed to show whether they, not the server, were the limit.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import resource
import signal
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from bench.result import report, smoke  # noqa: E402

OPENING_AT_ONCE = 32  # handshakes in flight per load generator (a relay closes one not done in 10 s)
PUBLISH_GAP = 0.1  # seconds between latency events: each fan-out ends before the next starts
WAIT = 120.0  # seconds a phase may take before the bench gives up on missing deliveries


def raise_fd_limit(needed: int) -> int:
    """RLIMIT_NOFILE up to the hard limit, in this process (children inherit it); the new soft limit."""
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    wanted = hard if hard != resource.RLIM_INFINITY else max(soft, needed)
    if wanted > soft:
        resource.setrlimit(resource.RLIMIT_NOFILE, (wanted, hard))
    if wanted < needed:
        raise SystemExit(f"bench/relay: the hard file-descriptor limit is {hard}, and one server process needs "
                         f"{needed}; raise it for this shell (ulimit -Hn, as root) or pass fewer --connections")
    return wanted


def rss_kib(pid: int) -> int:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1])
    raise RuntimeError(f"no VmRSS for {pid}")


def cpu_seconds(pid: int) -> float:
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def percentile(values: list[float], p: float) -> float:
    if not values:  # nothing arrived: a figure (nan), not a crash
        return float("nan")
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(round(p / 100 * (len(ordered) - 1))))]


# --- the load generator: a child process, one asyncio client for its share of the sockets ---------------

async def generate(job: dict) -> None:
    """Open the sockets of `job`, then answer the bench's commands on stdin with one JSON line each."""
    from websockets.asyncio.client import connect

    loop = asyncio.get_running_loop()
    reader = asyncio.StreamReader()
    await loop.connect_read_pipe(lambda: asyncio.StreamReaderProtocol(reader), sys.stdin)
    state = {"mode": None, "count": 0, "latencies": [], "last": 0.0, "received": 0}
    opened, errors = [], []
    gate = asyncio.Semaphore(OPENING_AT_ONCE)

    async def listen(websocket, measured: bool) -> None:
        async for message in websocket:
            if not measured:
                continue
            if state["mode"] == "latency":  # publication time -> now, in one monotonic clock for all processes
                state["latencies"].append(time.perf_counter() - json.loads(message)["data"]["sent"])
            state["received"] += 1
            state["last"] = time.perf_counter()

    async def open_one(url: str, measured: bool) -> None:
        async with gate:
            try:
                # As a browser: it offers permessage-deflate; no keepalive of its own, the server pings.
                websocket = await connect(url, open_timeout=120, ping_interval=None, close_timeout=1, max_size=None)
            except Exception as error:  # counted and named once: a refused socket is a figure, not a crash
                errors.append(repr(error))
                return
        opened.append(measured)
        asyncio.create_task(listen(websocket, measured))

    await asyncio.gather(*(open_one(url, measured) for url, measured in job["sockets"]))
    say({"opened": len(opened), "measured": sum(opened), "failed": len(errors),
         "first_error": errors[0] if errors else None})
    while line := await reader.readline():
        command = json.loads(line)
        if command["do"] == "reset":
            state.update(mode=command["mode"], latencies=[], received=0, last=0.0)
            say({"ok": True})
        elif command["do"] == "collect":
            say({"received": state["received"], "last": state["last"],
                 "latencies": state["latencies"] if command.get("latencies") else []})
        elif command["do"] == "close":
            break
    os._exit(0)  # the server sees every socket drop at once; a polite close of thousands would take long


def say(payload: dict) -> None:
    sys.stdout.write(json.dumps(payload) + "\n")
    sys.stdout.flush()


class Generators:
    """The load-generator processes, driven over their stdin/stdout."""

    def __init__(self, sockets: list[tuple[str, bool]], processes: int):
        self.children = []
        for n in range(processes):
            child = subprocess.Popen([sys.executable, __file__, "--generator"], stdin=subprocess.PIPE,
                                     stdout=subprocess.PIPE, text=True, cwd=ROOT)
            child.stdin.write(json.dumps({"sockets": sockets[n::processes]}) + "\n")
            child.stdin.flush()
            self.children.append(child)

    def ask(self, command: dict | None = None) -> list[dict]:
        if command is not None:
            for child in self.children:
                child.stdin.write(json.dumps(command) + "\n")
                child.stdin.flush()
        answers = []
        for child in self.children:
            line = child.stdout.readline()
            if not line:
                raise SystemExit(f"bench/relay: a load generator exited with {child.wait()}")
            answers.append(json.loads(line))
        return answers

    def cpu(self) -> float:
        return sum(cpu_seconds(child.pid) for child in self.children)

    def close(self) -> None:
        for child in self.children:
            try:
                child.stdin.write(json.dumps({"do": "close"}) + "\n")
                child.stdin.close()
            except OSError:
                pass
        for child in self.children:
            try:
                child.wait(30)
            except subprocess.TimeoutExpired:
                child.kill()
                child.wait()


def generator_main() -> None:
    job = json.loads(sys.stdin.readline())
    asyncio.run(generate(job))


# --- the baseline: a bare websockets server broadcasting what Redis publishes on one topic -------------

async def serve_bare(port: int, redis_url: str, topic: str, org: str) -> None:
    import redis.asyncio as aioredis
    from websockets.asyncio.server import broadcast, serve

    audience: set = set()

    async def handler(websocket) -> None:
        mine = f"org={org}" in websocket.request.path
        if mine:
            audience.add(websocket)
        try:
            await websocket.wait_closed()
        finally:
            audience.discard(websocket)

    redis = aioredis.from_url(redis_url, decode_responses=True)
    pubsub = redis.pubsub()
    await pubsub.subscribe(topic)
    async with serve(handler, "127.0.0.1", port, compression=None, ping_interval=None):
        say({"listening": port})
        async for message in pubsub.listen():
            if message["type"] == "message":
                broadcast(audience, message["data"].partition(" ")[2])  # "<id> <event JSON>"


def bare_main(argv: list[str]) -> None:
    port, redis_url, topic, org = argv
    asyncio.run(serve_bare(int(port), redis_url, topic, org))


# --- the bench -----------------------------------------------------------------------------------------

async def sign_up(settings, organizations: int, sessions: int) -> list[list]:
    """Per organization, its owner's tokens for `sessions` login sessions (the first from the signup)."""
    from objecta import wiring

    class NoMail:  # the verification email of a signup goes nowhere: nothing here reads mail
        def send(self, job) -> None:
            pass

    db = wiring.database(settings, jobs=NoMail())
    accounts = wiring.accounts(settings)
    logins = []
    try:
        for n in range(organizations):
            async with db.transaction() as session:
                owner = await accounts.signup(session, email=f"relay-bench-{n}@example.com",
                                              password="bench password", name=f"Bench {n}",
                                              organization_name=f"Bench {n}")
            async with db.transaction(org_id=owner.org_id, user_id=owner.user_id) as session:
                # As many browsers signing in: each a session of its own, as the login route opens it.
                logins.append([owner] + [await accounts.start_session(session, owner.user_id, owner.org_id)
                                         for _ in range(sessions - 1)])
    finally:
        await db.dispose()
    return logins


async def publish(redis_url: str, channel: str, count: int, gap: float) -> float:
    """`count` events on `channel` as a worker publishes them; the time of the first publication."""
    import redis.asyncio as aioredis

    from domain.realtime import RedisPublisher

    redis = aioredis.from_url(redis_url, decode_responses=True)
    publisher = RedisPublisher(redis)
    first = time.perf_counter()
    try:
        for n in range(count):
            await publisher.publish(channel, "bench.fanout", {"sent": time.perf_counter(), "n": n})
            if gap:
                await asyncio.sleep(gap)
    finally:
        await redis.aclose()
    return first


def measure(name: str, pid: int, sockets: list[tuple[str, bool]], args, redis_url: str, channel: str) -> dict:
    """Open the sockets against one server process, then its fan-out latency and throughput."""
    before, opening = rss_kib(pid), time.monotonic()
    generators = Generators(sockets, args.generators)
    try:
        opened = generators.ask()
        took = time.monotonic() - opening
        count, failed = sum(a["opened"] for a in opened), sum(a["failed"] for a in opened)
        fanout = sum(a["measured"] for a in opened)  # the measured organization's sockets that did open
        time.sleep(1)  # what the last handshakes set in motion settles
        after = rss_kib(pid)
        print(f"{name}: {count} sockets open in {took:.1f} s ({failed} refused"
              + (f", the first: {next(a['first_error'] for a in opened if a['first_error'])}" if failed else "")
              + f"); RSS {before / 1024:.0f} -> {after / 1024:.0f} MiB", flush=True)
        cpu_server, cpu_load, clock = cpu_seconds(pid), generators.cpu(), time.monotonic()

        generators.ask({"do": "reset", "mode": "latency"})
        asyncio.run(publish(redis_url, channel, args.events, PUBLISH_GAP))
        expected = fanout * args.events
        answers = _wait_all(generators, expected)
        answers = generators.ask({"do": "collect", "latencies": True})
        latencies = [value for a in answers for value in a["latencies"]]

        rates, delivered, busy = [], 0, 0.0
        server_before, load_before = cpu_seconds(pid), generators.cpu()
        for _ in range(3):
            generators.ask({"do": "reset", "mode": "burst"})
            first = asyncio.run(publish(redis_url, channel, args.burst, 0))
            answers = _wait_all(generators, fanout * args.burst)
            received = sum(a["received"] for a in answers)
            busy += max(a["last"] for a in answers) - first
            delivered += received
            rates.append(received / max(max(a["last"] for a in answers) - first, 1e-9))
        elapsed = time.monotonic() - clock
        # Over the bursts alone: the server's CPU per delivery says what it costs whoever the bottleneck is;
        # the load generators' share of a core says whether they were it.
        burst_cpu = {"server": (cpu_seconds(pid) - server_before) / max(busy, 1e-9),
                     "load": (generators.cpu() - load_before) / max(busy, 1e-9),
                     "per_delivery": (cpu_seconds(pid) - server_before) / max(delivered, 1)}
        cpu = {"server": (cpu_seconds(pid) - cpu_server) / elapsed, "load": (generators.cpu() - cpu_load) / elapsed,
               "burst": burst_cpu}
    finally:
        generators.close()
    result = {"opened": count, "failed": failed, "rss_before": before, "rss_after": after,
              "per_connection": (after - before) / max(count, 1), "latencies": latencies,
              "lost": expected - len(latencies), "rate": statistics.median(rates), "rates": rates, "cpu": cpu}
    print(f"{name}: fan-out to {fanout} sockets, {len(latencies)} deliveries: p50 "
          f"{percentile(latencies, 50) * 1000:.1f} ms, p99 {percentile(latencies, 99) * 1000:.1f} ms"
          f"{'' if not result['lost'] else ', ' + str(result['lost']) + ' missing'}; "
          f"throughput {', '.join(f'{r:,.0f}' for r in rates)} deliveries/s; CPU during the fan-out "
          f"(share of one core): server {cpu['server']:.0%}, load generators {cpu['load']:.0%}; during the bursts: "
          f"server {burst_cpu['server']:.0%}, load generators {burst_cpu['load']:.0%}, server CPU "
          f"{burst_cpu['per_delivery'] * 1e6:.1f} us per delivery", flush=True)
    return result


def _wait_all(generators: Generators, expected: int) -> list[dict]:
    """Poll the generators until `expected` deliveries in all arrived, or WAIT passed."""
    deadline = time.monotonic() + WAIT
    while True:
        answers = generators.ask({"do": "collect"})
        if sum(a["received"] for a in answers) >= expected or time.monotonic() > deadline:
            return answers
        time.sleep(0.05)


def main() -> int:
    tiny = smoke()
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--connections", type=int, default=40 if tiny else 10_000)
    parser.add_argument("--fanout", type=int, default=20 if tiny else 1_000,
                        help="sockets of the organization whose events are measured (one organization per group)")
    parser.add_argument("--events", type=int, default=3 if tiny else 20, help="events for the latency")
    parser.add_argument("--burst", type=int, default=20 if tiny else 200,
                        help="events per throughput burst (below the relay's queue of 256 per client)")
    parser.add_argument("--generators", type=int, default=2 if tiny else 4, help="load-generator processes")
    parser.add_argument("--recheck-interval", type=float, default=60,
                        help="the relay's login recheck, seconds (its default; larger to see what the rechecks cost)")
    args = parser.parse_args()
    limit = raise_fd_limit(args.connections + 256)
    print(f"file descriptors: soft limit raised to {limit} for the bench and its children", flush=True)

    from objecta import embedded
    from objecta import settings as settings_module
    from objecta.launcher import backing_services
    from objecta.migrate import migrate
    from domain import realtime

    home = Path(tempfile.mkdtemp(prefix="objecta-bench-relay-"))
    os.environ.update({"OBJECTA_HOME": str(home), "OBJECTA_ENV": "test", "BCRYPT_ROUNDS": "4",
                       "BROKER_NAMESPACE": f"bench-{os.getpid()}", "LOG_LEVEL": "WARNING",
                       "STRIPE_SECRET_KEY": os.environ.get("STRIPE_SECRET_KEY", "sk_test_bench_unused"),
                       "EMBEDDED_POSTGRES_PORT": str(embedded.free_port()),
                       "EMBEDDED_REDIS_PORT": str(embedded.free_port())})
    with backing_services(settings_module.load()) as (settings, _):
        migrate(settings)
        # As many sessions as the relay's per-session cap needs: its limits stay what production runs.
        per_session = settings.rate_limits["relay_connections"][0]
        organizations = -(-args.connections // args.fanout)
        logins = asyncio.run(sign_up(settings, organizations, -(-args.fanout // per_session)))
        print(f"{organizations} organizations, {sum(map(len, logins))} login sessions, up to {per_session} "
              f"sockets each", flush=True)
        measured_org = str(logins[0][0].org_id)
        channel = realtime.org_channel(measured_org)

        def sockets(port: int) -> list[tuple[str, bool]]:
            urls = []
            for n in range(args.connections):
                login = logins[n // args.fanout][(n % args.fanout) // per_session]
                urls.append((f"ws://127.0.0.1:{port}/?token={login.access_token}&org={login.org_id}", n < args.fanout))
            return urls

        relay_port, bare_port = embedded.free_port(), embedded.free_port()
        with open(home / "relay.log", "wb") as log:
            relay = subprocess.Popen([sys.executable, "-m", "edge.relay", "--port", str(relay_port),
                                      "--recheck-interval", str(args.recheck_interval)], cwd=ROOT,
                                     stdout=log, stderr=subprocess.STDOUT)
        try:
            embedded.wait_for_port(relay_port, relay, 30, "relay", home / "relay.log")
            time.sleep(0.5)
            ours = measure("relay", relay.pid, sockets(relay_port), args, settings.redis.url, channel)
        finally:
            relay.send_signal(signal.SIGTERM)
            relay.wait(60)
        bare = subprocess.Popen([sys.executable, __file__, "--bare", str(bare_port), settings.redis.url,
                                 realtime.topic(channel), measured_org], cwd=ROOT, stdout=subprocess.PIPE, text=True)
        try:
            bare.stdout.readline()
            theirs = measure("bare websockets", bare.pid, sockets(bare_port), args, settings.redis.url, channel)
        finally:
            bare.send_signal(signal.SIGTERM)
            bare.wait(30)

    p50, p99 = percentile(ours["latencies"], 50), percentile(ours["latencies"], 99)
    ratio = ours["rate"] / theirs["rate"]
    print(f"{'':16} {'sockets':>8} {'RSS MiB':>8} {'KiB/conn':>9} {'p50 ms':>7} {'p99 ms':>7} {'deliveries/s':>13}"
          f" {'us CPU/delivery':>16} {'load CPU (bursts)':>18}")
    for name, r in (("relay", ours), ("bare websockets", theirs)):
        print(f"{name:16} {r['opened']:8d} {r['rss_after'] / 1024:8.0f} {r['per_connection']:9.1f} "
              f"{percentile(r['latencies'], 50) * 1000:7.1f} {percentile(r['latencies'], 99) * 1000:7.1f} "
              f"{r['rate']:13,.0f} {r['cpu']['burst']['per_delivery'] * 1e6:16.1f} {r['cpu']['burst']['load']:18.0%}")
    efficiency = theirs["cpu"]["burst"]["per_delivery"] / max(ours["cpu"]["burst"]["per_delivery"], 1e-12)
    print(f"relay: {ours['per_connection']:.1f} KiB per connection; ratio={ratio:.2f} (relay / bare throughput); "
          f"bare / relay server CPU per delivery {efficiency:.2f}")
    complete = ours["opened"] == args.connections and not ours["lost"]
    met = (complete and ours["rss_after"] < 400 * 1024 and ours["per_connection"] <= 40 and p99 < 0.1
           and ratio >= 0.5)
    report("relay", figure=f"{ours['opened']} sockets, {ours['rss_after'] / 1024:.0f} MiB "
                           f"({ours['per_connection']:.0f} KiB/conn); fan-out to {args.fanout} p99 {p99 * 1000:.0f} ms"
                           f" (p50 {p50 * 1000:.0f}); {ours['rate']:,.0f} deliveries/s"
                           + ("" if complete else f"; {args.connections - ours['opened']} refused, "
                                                  f"{ours['lost']} deliveries missing"),
           baseline=f"bare websockets {theirs['rate']:,.0f} deliveries/s, {theirs['per_connection']:.0f} KiB/conn",
           ratio=ratio, target="< 400 MiB at 10k (<= 40 KiB/conn), p99 < 100 ms, >= 0.5x bare", met=met,
           note="ratio here is relay / bare fan-out throughput (higher is better)")
    return 0


if __name__ == "__main__":
    if sys.argv[1:2] == ["--generator"]:
        generator_main()
    elif sys.argv[1:2] == ["--bare"]:
        bare_main(sys.argv[2:])
    else:
        sys.exit(main())
