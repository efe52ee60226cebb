"""Benchmark: POST of a command versus its floor (and a bare 202), on the same server, in the same run.

    make bench            (or: .venv/bin/python bench/commands.py [--seconds 10] [--connections 64])
    make bench-smoke      (--smoke or BENCH_SMOKE=1: 1 s per endpoint, 8 connections)

Starts the embedded Postgres and Valkey (or uses DATABASE_URL / REDIS_URL),
one uvicorn process serving the real edge plus one bare route, and drives
both with wrk (C, event-driven; installed from Debian's `wrk` package) at 64
concurrent connections:
- bare:    POST /bench/bare -> 202, no I/O at all;
- floor:   POST /bench/floor/{id} -> 202: the least a command must do, written
  by hand here (`floor`): verify the HS256 JWT; one psycopg transaction in
  pipeline mode (set_config of the tenant, the membership and session read,
  the insert into commands, commit: one round trip); one async LPUSH;
- command: POST /v1/agents/{id}/deploy -> 202: verify the JWT, check the
  membership and session, lock the agent, insert the command, commit,
  enqueue to the broker after commit.
It prints requests/s and p50/p99 for each, the CPU each process used (so
you can see the load generator is not the bottleneck) and, last,
`ratio=<command rps / floor rps>` (issue 15: target 0.7, p99 < 100 ms).
Without wrk it refuses and says how to get it (a smoke run reports
"skipped: wrk missing" instead).
"""

from __future__ import annotations

import argparse
import json
import os
import re
import shutil
import signal
import subprocess
import sys
import tempfile
import time
import urllib.request
import uuid
from pathlib import Path

from litestar import Request, Response, post

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from bench.result import report, skipped, smoke, without_rate_limits  # noqa: E402

SERVERS = ("uvicorn", "granian")
AGENTS = 256  # spread the row locks: concurrent deploys of one agent serialize, by design
WRK_MISSING = "wrk missing (Debian: apt-get install wrk)"

# The floor's SQL: the tenant, the membership and session check the real path makes
# (domain/accounts/repository.live_role), and a command row; the insert is guarded by the
# same check, so a removed member inserts nothing, yet all of it is one round trip.
FLOOR_TENANT = "select set_config('app.org_id', %s, true), set_config('app.user_id', %s, true)"
FLOOR_LIVE = """
    select m.role, o.suspended_at from memberships m join organizations o on o.id = m.org_id
    where m.org_id = %(org)s and m.user_id = %(user)s and not exists (
        select 1 from refresh_tokens r where r.family_id = %(sid)s and r.revoked_at is not null)"""
FLOOR_INSERT = f"""
    insert into commands (id, org_id, user_id, kind, queue, actor, payload)
    select %(id)s, %(org)s, %(user)s, 'agent.deploy', 'agents', 'agents.deploy', %(payload)s
    where exists ({FLOOR_LIVE})"""


def bench_app():
    """The real edge plus a bare route and the floor, served by the same process (uvicorn --factory)."""
    import jwt
    import redis.asyncio as aioredis
    from psycopg.types.json import Jsonb
    from psycopg_pool import AsyncConnectionPool

    from edge.app import create_app
    from objecta.settings import load

    settings = load()
    auth = settings.auth
    pool = AsyncConnectionPool(settings.database.app_url, min_size=4, max_size=settings.database.pool_size * 2,
                               open=False)
    redis = aioredis.from_url(settings.redis.url)

    @post("/bench/bare", status_code=202, include_in_schema=False)
    async def bare() -> Response:
        return Response({"command_id": "00000000-0000-0000-0000-000000000000", "status": "queued"},
                        status_code=202)

    @post("/bench/floor/{agent_id:uuid}", status_code=202, include_in_schema=False)
    async def floor(request: Request, agent_id: uuid.UUID) -> Response:
        claims = jwt.decode(request.headers.get("authorization", "")[7:], auth.jwt_secret, algorithms=["HS256"],
                            audience=auth.audience, issuer=auth.issuer)
        params = {"org": claims["org"], "user": claims["sub"], "sid": claims["sid"], "id": uuid.uuid4(),
                  "payload": Jsonb({"agent_id": str(agent_id)})}
        async with pool.connection() as connection:
            async with connection.pipeline():
                await connection.execute(FLOOR_TENANT, (params["org"], params["user"]))
                live = await connection.execute(FLOOR_LIVE, params)
                await connection.execute(FLOOR_INSERT, params)
                await connection.commit()
            if await live.fetchone() is None:
                return Response({"error": {"code": "session_revoked"}}, status_code=401)
        await redis.lpush("bench:floor", json.dumps({"command_id": str(params["id"]), "agent_id": str(agent_id)}))
        return Response({"command_id": str(params["id"]), "status": "queued"}, status_code=202)

    async def open_pool() -> None:
        await pool.open()

    async def close_pool() -> None:
        await pool.close()
        await redis.aclose()

    app = create_app()
    app.register(bare)
    app.register(floor)
    app.on_startup.append(open_pool)
    app.on_shutdown.append(close_pool)
    return app


def _http(method: str, url: str, body: dict | None = None, token: str | None = None) -> dict:
    headers = {"Content-Type": "application/json"}
    if token:
        headers["Authorization"] = f"Bearer {token}"
    request = urllib.request.Request(url, data=json.dumps(body).encode() if body is not None else None,
                                     headers=headers, method=method)
    with urllib.request.urlopen(request, timeout=10) as response:
        return json.loads(response.read() or b"{}")


def _cpu_seconds(pid: int) -> float:
    """User + system CPU so far of a process and every live process under it (a server's workers), from /proc."""
    parents, ticks = {}, {}
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit():
            try:
                fields = (entry / "stat").read_text().rsplit(")", 1)[1].split()
            except OSError:
                continue  # gone meanwhile
            parents[int(entry.name)] = int(fields[1])
            ticks[int(entry.name)] = sum(int(x) for x in fields[11:15])
    tree = {pid}
    grew = True
    while grew:
        grew = False
        for child, parent in parents.items():
            if parent in tree and child not in tree:
                tree.add(child)
                grew = True
    total = sum(ticks.get(p, 0) for p in tree)
    return total / os.sysconf("SC_CLK_TCK")


def _wrk(url: str, script: Path, seconds: int, connections: int) -> dict:
    process = subprocess.Popen(["wrk", "-t2", f"-c{connections}", f"-d{seconds}s", "--latency", "-s", str(script),
                                url], stdout=subprocess.PIPE, text=True)
    output, _ = process.communicate()
    rps = float(re.search(r"Requests/sec:\s+([\d.]+)", output).group(1))
    latency = {p: _ms(re.search(rf"\s{p}%\s+([\d.]+\w+)", output).group(1)) for p in ("50", "99")}
    non_2xx = re.search(r"Non-2xx or 3xx responses: (\d+)", output)
    return {"rps": rps, "p50": latency["50"], "p99": latency["99"],
            "errors": int(non_2xx.group(1)) if non_2xx else 0, "raw": output}


def _ms(value: str) -> float:
    number, unit = re.match(r"([\d.]+)(\w+)", value).groups()
    return float(number) * {"us": 0.001, "ms": 1, "s": 1000, "m": 60000}[unit]


def _script(path: Path, token: str, paths: list[str]) -> Path:
    lua = f"""
wrk.method = "POST"
wrk.headers["Authorization"] = "Bearer {token}"
wrk.headers["Content-Type"] = "application/json"
local paths = {{{", ".join(json.dumps(p) for p in paths)}}}
local i = 0
request = function()
  i = i + 1
  return wrk.format(nil, paths[(i % #paths) + 1])
end
"""
    path.write_text(lua)
    return path


def main() -> int:
    tiny = smoke()
    without_rate_limits()
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seconds", type=int, default=1 if tiny else 10)
    parser.add_argument("--connections", type=int, default=8 if tiny else 64)
    parser.add_argument("--agents", type=int, default=8 if tiny else AGENTS)
    parser.add_argument("--server", choices=SERVERS, default="uvicorn",
                        help="the ASGI server (`objecta up` runs uvicorn; granian: pip install granian)")
    parser.add_argument("--edge-processes", type=int, default=1, help="server worker processes")
    args = parser.parse_args()
    if args.server == "granian" and shutil.which("granian", path=str(Path(sys.executable).parent)) is None:
        print("bench: granian is not installed here (.venv/bin/pip install granian)", file=sys.stderr)
        return 2
    if shutil.which("wrk") is None:
        print(f"bench: {WRK_MISSING}; the commands benchmark needs it to drive the edge", file=sys.stderr)
        skipped("commands", WRK_MISSING)
        return 0 if tiny else 2

    from objecta import embedded
    from objecta import settings as settings_module
    from objecta.launcher import backing_services
    from objecta.migrate import migrate

    home = Path(tempfile.mkdtemp(prefix="objecta-bench-"))
    os.environ.update({"OBJECTA_HOME": str(home), "OBJECTA_ENV": "test", "BCRYPT_ROUNDS": "4",
                       # The free plan's agent limit (402 past it) must let the bench make its agents.
                       "FREE_PLAN_AGENTS": str(args.agents),
                       "BROKER_NAMESPACE": f"bench-{os.getpid()}", "LOG_LEVEL": "WARNING",
                       "EMBEDDED_POSTGRES_PORT": str(embedded.free_port()),
                       "EMBEDDED_REDIS_PORT": str(embedded.free_port()),
                       # Its own Stripe stand-in port: the default one may be another stack's on this machine.
                       "EMBEDDED_STRIPE_PORT": str(embedded.free_port())})
    port = embedded.free_port()
    base = f"http://127.0.0.1:{port}"
    with backing_services(settings_module.load()) as (settings, _):
        migrate(settings)
        server = subprocess.Popen(_server_command(args.server, port, args.edge_processes), cwd=ROOT,
                                  env={**os.environ, "PYTHONPATH": str(ROOT)}, start_new_session=True)
        try:
            for _ in range(200):
                try:
                    if _http("GET", base + "/readyz")["status"] == "ready":
                        break
                except OSError:
                    time.sleep(0.1)
            tokens = _http("POST", base + "/v1/auth/signup", {
                "email": "bench@example.com", "password": "bench password", "name": "Bench",
                "organization_name": "Bench"})
            token = tokens["access_token"]
            agents = [_http("POST", base + "/v1/agents", {"name": f"a{i}", "model": "gpt-4o"}, token)["id"]
                      for i in range(args.agents)]
            bare_script = _script(home / "bare.lua", token, ["/bench/bare"])
            floor_script = _script(home / "floor.lua", token, [f"/bench/floor/{a}" for a in agents])
            command_script = _script(home / "command.lua", token, [f"/v1/agents/{a}/deploy" for a in agents])

            results = {}
            for name, script in (("bare", bare_script), ("floor", floor_script), ("command", command_script)):
                _wrk(base, script, 1 if tiny else 2, args.connections)  # warm-up: pools, caches, TCP
                server_cpu = _cpu_seconds(server.pid)
                started = time.monotonic()
                results[name] = _wrk(base, script, args.seconds, args.connections)
                elapsed = time.monotonic() - started
                results[name]["server_cpu"] = (_cpu_seconds(server.pid) - server_cpu) / elapsed
            # wrk's own CPU, measured on a separate short run of each (it has exited above).
            print(f"server: {args.server}, {args.edge_processes} process(es); edge cpu is the share of one core")
            print(f"{'':8} {'req/s':>9} {'p50 ms':>8} {'p99 ms':>8} {'non-2xx':>8} {'edge cpu':>9}")
            for name, r in results.items():
                print(f"{name:8} {r['rps']:9.0f} {r['p50']:8.2f} {r['p99']:8.2f} {r['errors']:8d} "
                      f"{r['server_cpu'] * 100:8.0f}%")
            if not tiny:
                loadgen = _loadgen_cpu(base, command_script, args.connections)
                print(f"load generator (wrk, 2 threads) used {loadgen * 100:.0f}% of one core while driving the "
                      f"command endpoint; the edge is {args.edge_processes} {args.server} process(es) "
                      f"(at most {args.edge_processes * 100}%)")
            command, floor = results["command"], results["floor"]
            if command["errors"] or floor["errors"]:
                raise RuntimeError(f"non-2xx answers: command {command['errors']}, floor {floor['errors']}")
            ratio = command["rps"] / floor["rps"]
            print(f"command / bare: {command['rps'] / results['bare']['rps']:.3f}")
            print(f"ratio={ratio:.3f}")
            report("commands", figure=f"{command['rps']:,.0f} req/s, p99 {command['p99']:.0f} ms",
                   baseline=f"floor {floor['rps']:,.0f} req/s, p99 {floor['p99']:.0f} ms", ratio=ratio,
                   target=">= 0.7, p99 < 100 ms", met=ratio >= 0.7 and command["p99"] < 100)
        finally:
            os.killpg(server.pid, signal.SIGTERM)  # the server and its worker processes
            server.wait(20)
    shutil.rmtree(home, ignore_errors=True)
    return 0


def _server_command(server: str, port: int, processes: int) -> list[str]:
    """The same app under uvicorn (uvloop + httptools, what `objecta up` runs) or granian (Rust HTTP)."""
    if server == "granian":
        return [str(Path(sys.executable).parent / "granian"), "--interface", "asgi", "--factory", "--port",
                str(port), "--workers", str(processes), "--loop", "uvloop", "--no-access-log", "--log-level",
                "warning", "bench.commands:bench_app"]
    return [sys.executable, "-m", "uvicorn", "--factory", "bench.commands:bench_app", "--port", str(port),
            "--workers", str(processes), "--no-access-log", "--log-level", "warning"]


def _loadgen_cpu(base: str, script: Path, connections: int, seconds: int = 3) -> float:
    """CPU share of wrk itself over a short run, from its rusage."""
    before = os.times()
    _wrk(base, script, seconds, connections)
    after = os.times()
    return ((after.children_user - before.children_user) + (after.children_system - before.children_system)) / seconds


if __name__ == "__main__":
    sys.exit(main())
