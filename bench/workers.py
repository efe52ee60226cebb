"""Benchmark: commands completed per second by one worker process, against a bare Dramatiq actor (same run).

    make bench            (or: .venv/bin/python bench/workers.py [--commands 6000] [--threads 4] [--orgs THREADS])
    make bench-smoke      (--smoke or BENCH_SMOKE=1: 40 commands each, to prove it still runs)

Starts the embedded Postgres and Valkey (or uses DATABASE_URL / REDIS_URL),
migrates and signs up `--orgs` organizations (one per thread by default). Then two phases, each on its own
`--commands` commands of one trivial kind (`bench.touch`, bench/workers_command.py:
its work is one small statement), queued first through the edge's path
(`domain.commands.service.submit` in transactions, sent after commit), spread
over the organizations:
- bare:    `dramatiq bench.workers_bare`: Dramatiq's Redis broker with its default
  middleware and an actor doing the command's SQL in one psycopg transaction
  (read the row, the work's statement, mark it succeeded) — bench/workers_bare.py;
- command: `dramatiq workers.broker bench.workers_command`, one process of the
  real pool (`objecta up` runs `dramatiq workers.broker <queues> --processes 2
  --threads 4`): claim, work + succeed, `command.updated` published after each
  commit, every middleware (fairness cap, heartbeat, metrics, dead-letter reasons).
Both get one process and `--threads` threads. The rate is measured on the
commands' own `finished_at`: (commands - 1) / (last - first), so the workers'
start-up does not count; the phase ends when every command is finished in
Postgres. Prints both rates, each process's CPU (share of one core, from the
first completion to the last) and, last, `ratio=<command / bare>` (issue 15:
target 0.5). `--py-spy FILE` records the command worker with py-spy (raw
format) for the profile in docs/benchmarks.md.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import shutil
import signal
import subprocess
import sys
import tempfile
import time
import uuid
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from bench.events import _cpu, _cpu_tree  # noqa: E402
from bench.result import report, smoke, without_rate_limits  # noqa: E402

BATCH = 250  # commands per submitting transaction


async def _prepare(settings, orgs: int) -> list[tuple[uuid.UUID, uuid.UUID]]:
    """Sign up `orgs` organizations; their (org id, owner id)."""
    from objecta import wiring

    accounts = wiring.accounts(settings)
    database = wiring.database(settings, jobs=_Discard())  # signup's verification emails: nobody reads them here
    found = []
    try:
        for n in range(orgs):
            async with database.transaction() as session:
                tokens = await accounts.signup(session, email=f"bench{n}@example.com", password="bench password",
                                               name="Bench", organization_name=f"Bench {n}")
            found.append((tokens.org_id, tokens.user_id))
    finally:
        await database.dispose()
    return found


class _Discard:
    def send(self, job) -> None:
        pass


class _Collect:
    """A job sender that keeps the jobs, per organization, to be sent once every transaction has committed."""

    def __init__(self):
        self.jobs: dict[str, list] = {}

    def send(self, job) -> None:
        self.jobs.setdefault(job.options["org_id"], []).append(job)

    def interleaved(self) -> list:
        """The organizations in turn, so consecutive messages belong to different ones: with as many
        organizations as threads, the fairness cap (two running messages per organization and queue) never
        holds the pool back (with 8 threads over 4 organizations it did: deferrals cut the rate by more than half)."""
        lists = list(self.jobs.values())
        return [job for n in range(max(map(len, lists))) for jobs in lists if n < len(jobs) for job in [jobs[n]]]


async def _submit(settings, label: str, count: int, owners: list[tuple[uuid.UUID, uuid.UUID]]) -> list:
    """`count` queued commands through `submit`, as the edge accepts them; their jobs, once committed."""
    from bench.workers_command import TOUCH
    from domain.commands import service as commands
    from objecta import wiring

    collected = _Collect()
    database = wiring.database(settings, jobs=collected)
    try:
        for start in range(0, count, BATCH):
            # One transaction per organization's share of the batch: a transaction has one tenant.
            for index, (org_id, user_id) in enumerate(owners):
                async with database.transaction(org_id=org_id, user_id=user_id) as session:
                    for n in range(start + index, min(start + BATCH, count), len(owners)):
                        await commands.submit(session, TOUCH, org_id=org_id, user_id=user_id,
                                              payload={"set": label, "n": n})
    finally:
        await database.dispose()
    return collected.interleaved()


def _children(pid: int) -> list[int]:
    found = []
    for task in Path(f"/proc/{pid}/task").iterdir():
        found += [int(child) for child in (task / "children").read_text().split()]
    return found


class Phase:
    """One worker pool draining its queued commands; what it measured."""

    def __init__(self, label: str, argv: list[str], env: dict, log: Path):
        self.label, self.argv, self.env, self.log = label, argv, env, log
        self.rate = 0.0
        self.span = 0.0
        self.cpu: dict[str, float] = {}
        self.failed = 0

    def run(self, owner, count: int, servers, timeout: float, py_spy: str | None = None) -> None:
        with open(self.log, "wb") as log:
            worker = subprocess.Popen(self.argv, cwd=ROOT, stdout=log, stderr=subprocess.STDOUT, env=self.env,
                                      process_group=0)
        recorder = None
        try:
            def usage() -> dict[str, float]:
                found = {"worker": _cpu_tree(worker.pid)}
                for server in servers:
                    if server.name in ("postgres", "valkey"):
                        found[server.name] = _cpu_tree(server.process.pid, deep=True)
                found["bench"] = _cpu(os.getpid())
                return found

            deadline = time.monotonic() + timeout
            done = failed = 0
            before = began = None
            while done + failed < count:
                if worker.poll() is not None:
                    raise RuntimeError(f"the {self.label} worker exited ({worker.returncode}); see {self.log}")
                if time.monotonic() > deadline:
                    raise RuntimeError(f"{self.label}: {done} of {count} finished after {timeout:.0f} s")
                done, failed = self._counts(owner)
                if before is None and done + failed > 0:
                    before, began = usage(), time.monotonic()
                    if py_spy:
                        children = _children(worker.pid)
                        recorder = subprocess.Popen([str(Path(sys.executable).parent / "py-spy"), "record", "--gil", "--format", "raw", "-o", py_spy, "--rate",
                                                     "200", "--pid", str(children[0])], stdout=subprocess.DEVNULL,
                                                    stderr=subprocess.DEVNULL)
                time.sleep(0.05 if before is None else 0.2)
            elapsed = time.monotonic() - began
            self.cpu = {name: (seconds - before[name]) / elapsed for name, seconds in usage().items()}
        finally:
            if recorder is not None:
                recorder.send_signal(signal.SIGINT)
                recorder.wait(30)
            worker.send_signal(signal.SIGTERM)
            try:
                worker.wait(20)
            except subprocess.TimeoutExpired:
                os.killpg(worker.pid, signal.SIGKILL)
                worker.wait()
        self.failed = failed
        self.span = owner.execute(
            "select extract(epoch from max(finished_at) - min(finished_at)) from commands where payload->>'set' = %s",
            (self.label,)).fetchone()[0]
        self.rate = (count - 1) / float(self.span) if self.span else 0.0

    def _counts(self, owner) -> tuple[int, int]:
        return owner.execute(
            "select count(*) filter (where status = 'succeeded'), count(*) filter (where status = 'failed') "
            "from commands where payload->>'set' = %s", (self.label,)).fetchone()


def main() -> int:
    tiny = smoke()
    without_rate_limits()
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--commands", type=int, default=40 if tiny else 6000, help="commands per phase")
    parser.add_argument("--threads", type=int, default=4, help="worker threads of each pool's one process")
    parser.add_argument("--orgs", type=int, help="organizations the commands are spread over (default: one per "
                        "thread, so the fairness cap of two running messages per organization never binds)")
    parser.add_argument("--py-spy", metavar="FILE", help="record the command worker with py-spy (raw format)")
    args = parser.parse_args()
    args.orgs = args.orgs or args.threads

    import psycopg
    from dramatiq.brokers.redis import RedisBroker

    from objecta import embedded
    from objecta import settings as settings_module
    from objecta.broker import BrokerSender, build_broker
    from objecta.launcher import CHILD_ENV, backing_services
    from objecta.migrate import migrate

    home = Path(tempfile.mkdtemp(prefix="objecta-bench-workers-"))
    namespace = f"bench-{os.getpid()}"
    os.environ.update({"OBJECTA_HOME": str(home), "OBJECTA_ENV": "test", "BCRYPT_ROUNDS": "4",
                       "BROKER_NAMESPACE": namespace, "LOG_LEVEL": "WARNING",
                       "STRIPE_SECRET_KEY": os.environ.get("STRIPE_SECRET_KEY", "sk_test_bench_unused"),
                       "EMBEDDED_POSTGRES_PORT": str(embedded.free_port()),
                       "EMBEDDED_REDIS_PORT": str(embedded.free_port())})
    with backing_services(settings_module.load()) as (settings, servers):
        migrate(settings)
        owners = asyncio.run(_prepare(settings, args.orgs))
        # The pools' environment: what `objecta up` gives its worker (idle backoff), the level it logs at.
        env = {**os.environ, **CHILD_ENV["worker"], "LOG_LEVEL": "INFO", "BENCH_BARE_NAMESPACE": f"{namespace}-bare",
               "DATABASE_URL": settings.database.url, "REDIS_URL": settings.redis.url}
        threads = ["--processes", "1", "--threads", str(args.threads)]
        bare_broker = RedisBroker(url=settings.redis.url, namespace=f"{namespace}-bare")
        phases = [
            (Phase("bare", [sys.executable, "-m", "dramatiq", "bench.workers_bare", *threads], env, home / "bare.log"),
             BrokerSender(bare_broker)),
            (Phase("command", [sys.executable, "-m", "dramatiq", "workers.broker", "bench.workers_command", *threads],
                   env, home / "command.log"), BrokerSender(build_broker(settings))),
        ]
        owner = psycopg.connect(settings.database.url, autocommit=True)
        timeout = max(60.0, args.commands / 20)
        for phase, sender in phases:
            for job in asyncio.run(_submit(settings, phase.label, args.commands, owners)):
                sender.send(job)
            phase.run(owner, args.commands, servers, timeout, args.py_spy if phase.label == "command" else None)
        owner.close()
        bare, command = (phase for phase, _ in phases)
        print(f"workers: {args.commands} commands per phase, 1 process x {args.threads} threads, {args.orgs} orgs "
              f"(load average {os.getloadavg()[0]:.1f}, {os.cpu_count()} cores)")
        for phase in (bare, command):
            print(f"{phase.label + ':':9}{phase.rate:8.0f} commands/s ({phase.span:.2f} s first to last"
                  + (f", {phase.failed} FAILED" if phase.failed else "") + "); CPU (share of one core): "
                  + ", ".join(f"{name} {share * 100:.0f}%" for name, share in phase.cpu.items()))
        ratio = command.rate / bare.rate if bare.rate else 0.0
        print(f"ratio={ratio:.3f}")
        report("workers", figure=f"{command.rate:,.0f} commands/s", baseline=f"{bare.rate:,.0f}/s bare Dramatiq",
               ratio=ratio, target=">= 0.5", met=ratio >= 0.5 and not (bare.failed or command.failed))
    shutil.rmtree(home, ignore_errors=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
