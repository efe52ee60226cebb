"""Benchmark: POST of a command versus a bare 202, on the same server, in the same run.

    make bench            (or: .venv/bin/python bench/commands.py [--seconds 10] [--connections 64])

Starts the embedded Postgres and Valkey (or uses DATABASE_URL / REDIS_URL),
one uvicorn process serving the real edge plus one bare route, and drives
both with wrk (C, event-driven; installed from Debian's `wrk` package) at 64
concurrent connections:
- bare:    POST /bench/bare -> 202, no I/O at all;
- command: POST /v1/agents/{id}/deploy -> 202: verify the JWT, check the
  membership and session, lock the agent, insert the command, commit,
  enqueue to the broker after commit.
It prints requests/s and p50/p99 for both, the CPU each process used (so
you can see the load generator is not the bottleneck) and, last,
`ratio=<command rps / bare rps>`.
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
from pathlib import Path

from litestar import Response, post

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

AGENTS = 256  # spread the row locks: concurrent deploys of one agent serialize, by design


def bench_app():
    """The real edge plus one bare route, served by the same process (uvicorn --factory)."""
    from edge.app import create_app

    @post("/bench/bare", status_code=202, include_in_schema=False)
    async def bare() -> Response:
        return Response({"command_id": "00000000-0000-0000-0000-000000000000", "status": "queued"},
                        status_code=202)

    app = create_app()
    app.register(bare)
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
    """User + system CPU of a process and its children so far, from /proc."""
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    ticks = sum(int(x) for x in fields[11:15])
    return ticks / os.sysconf("SC_CLK_TCK")


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
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seconds", type=int, default=10)
    parser.add_argument("--connections", type=int, default=64)
    args = parser.parse_args()
    if shutil.which("wrk") is None:
        print("bench: wrk is not installed (Debian: apt-get install wrk)", file=sys.stderr)
        return 2

    from objecta import embedded
    from objecta import settings as settings_module
    from objecta.launcher import backing_services
    from objecta.migrate import migrate

    home = Path(tempfile.mkdtemp(prefix="objecta-bench-"))
    os.environ.update({"OBJECTA_HOME": str(home), "OBJECTA_ENV": "test", "BCRYPT_ROUNDS": "4",
                       # The free plan's agent limit (402 past it) must let the bench make its agents.
                       "FREE_PLAN_AGENTS": str(AGENTS),
                       "BROKER_NAMESPACE": f"bench-{os.getpid()}", "LOG_LEVEL": "WARNING",
                       "EMBEDDED_POSTGRES_PORT": str(embedded.free_port()),
                       "EMBEDDED_REDIS_PORT": str(embedded.free_port())})
    port = embedded.free_port()
    base = f"http://127.0.0.1:{port}"
    with backing_services(settings_module.load()) as (settings, _):
        migrate(settings)
        server = subprocess.Popen([sys.executable, "-m", "uvicorn", "--factory", "bench.commands:bench_app",
                                   "--port", str(port), "--no-access-log", "--log-level", "warning"],
                                  cwd=ROOT, env={**os.environ, "PYTHONPATH": str(ROOT)})
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
                      for i in range(AGENTS)]
            bare_script = _script(home / "bare.lua", token, ["/bench/bare"])
            command_script = _script(home / "command.lua", token, [f"/v1/agents/{a}/deploy" for a in agents])

            results = {}
            for name, script in (("bare", bare_script), ("command", command_script)):
                _wrk(base, script, 2, args.connections)  # warm-up: pools, JIT-free caches, TCP
                server_cpu = _cpu_seconds(server.pid)
                started = time.monotonic()
                results[name] = _wrk(base, script, args.seconds, args.connections)
                elapsed = time.monotonic() - started
                results[name]["server_cpu"] = (_cpu_seconds(server.pid) - server_cpu) / elapsed
            # wrk's own CPU, measured on a separate short run of each (it has exited above).
            print(f"{'':8} {'req/s':>9} {'p50 ms':>8} {'p99 ms':>8} {'non-2xx':>8} {'edge cpu':>9}")
            for name, r in results.items():
                print(f"{name:8} {r['rps']:9.0f} {r['p50']:8.2f} {r['p99']:8.2f} {r['errors']:8d} "
                      f"{r['server_cpu'] * 100:8.0f}%")
            loadgen = _loadgen_cpu(base, command_script, args.connections)
            print(f"load generator (wrk, 2 threads) used {loadgen * 100:.0f}% of one core while driving the "
                  f"command endpoint; the edge is one uvicorn process (at most 100%)")
            print(f"ratio={results['command']['rps'] / results['bare']['rps']:.3f}")
        finally:
            server.send_signal(signal.SIGTERM)
            server.wait(20)
    shutil.rmtree(home, ignore_errors=True)
    return 0


def _loadgen_cpu(base: str, script: Path, connections: int, seconds: int = 3) -> float:
    """CPU share of wrk itself over a short run, from its rusage."""
    before = os.times()
    _wrk(base, script, seconds, connections)
    after = os.times()
    return ((after.children_user - before.children_user) + (after.children_system - before.children_system)) / seconds


if __name__ == "__main__":
    sys.exit(main())
