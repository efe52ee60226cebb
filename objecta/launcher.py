"""`objecta up`: the whole stack on one machine, stopped cleanly on Ctrl-C.

Backing services (the embedded Postgres and Valkey when no URL is given)
start first, the schema is migrated, then the application processes start,
each in its own process group: Ctrl-C reaches the launcher alone, which
stops the processes in reverse order (application first, data last). Every
child also asks the kernel to terminate it if the launcher dies, so even a
SIGKILLed launcher leaves no orphan.
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path

from objecta import embedded
from objecta import settings as settings_module
from objecta.embedded import EmbeddedServer, die_with_parent
from objecta.migrate import migrate
from objecta.settings import Settings


@dataclass
class Child:
    name: str
    where: str
    process: subprocess.Popen
    argv: list[str]
    stop_signal: int = signal.SIGTERM
    restarts: int = 0
    started: float = field(default_factory=time.monotonic)

    def stop(self) -> None:
        """Ask the process to stop; it stops its own children (Dramatiq's workers)."""
        if self.process.poll() is None:
            self.process.send_signal(self.stop_signal)

    def kill(self) -> None:
        """The whole process group, grandchildren included."""
        try:
            os.killpg(self.process.pid, signal.SIGKILL)
        except ProcessLookupError:
            pass


MAX_RESTARTS = 10  # in a row, each within STABLE_AFTER seconds of the last start
STABLE_AFTER = 60
CHILD_ENV = {
    # Cron entries are written in UTC; periodiq reads the local zone.
    "scheduler": {"TZ": "UTC"},
    # An idle Redis-broker consumer polls with backoff up to this many ms (Dramatiq's
    # default 1000): each hop of a notification could wait that long. Latency over polling.
    "worker": {"dramatiq_worker_timeout": "100"},
}


class Stopping(Exception):
    """SIGINT or SIGTERM arrived while starting."""


@contextmanager
def backing_services(settings: Settings):
    """Start what has no URL (Postgres, Valkey) under OBJECTA_HOME; yield settings that point at them."""
    started: list[EmbeddedServer] = []
    try:
        env = {}
        if settings.database.url is None:
            pg = embedded.start_postgres(settings.home / "postgres" / "data", settings.database.embedded_port)
            started.append(pg)
            env["DATABASE_URL"] = pg.url
        if settings.redis.url is None:
            valkey = embedded.start_valkey(settings.home / "valkey", settings.redis.embedded_port)
            started.append(valkey)
            env["REDIS_URL"] = valkey.url
        if settings.billing.uses_stand_in and settings.billing.api_base is None:
            stand_in = embedded.start_localstripe(settings.billing.embedded_port,
                                                  log=_log_dir(settings) / "localstripe.log")
            started.append(stand_in)
            env["STRIPE_API_BASE"] = stand_in.url
        if env:
            # Children inherit these, so every process agrees on where the data is.
            os.environ.update(env)
            os.environ["OBJECTA_HOME"] = str(settings.home)
            settings = settings_module.load()
        if settings.billing.uses_stand_in:
            webhook = f"http://{settings.http.host}:{settings.http.edge_port}/v1/webhooks/stripe"
            embedded.register_stripe_webhook(settings.billing.api_base, webhook, settings.billing.webhook_secret)
            print(f"objecta: STRIPE_SECRET_KEY is not set: using the local Stripe stand-in (localstripe) at "
                  f"{settings.billing.api_base}, webhooks to {webhook}", flush=True)
        yield settings, started
    finally:
        for server in reversed(started):
            server.stop()


def _log_dir(settings: Settings) -> Path:
    folder = settings.home / "logs"
    folder.mkdir(parents=True, exist_ok=True)
    return folder


def sync_billing_catalog(settings: Settings) -> list[str]:
    """Create the plans catalog at Stripe or the stand-in (idempotent); the plans created."""
    import asyncio

    from domain.billing import plan_sync
    from objecta import wiring

    async def run() -> list[str]:
        payments = wiring.payments(settings)
        try:
            return await plan_sync.sync(payments)
        finally:
            await payments.close()

    return asyncio.run(run())


def _spawn(name: str, where: str, argv: list[str], log_dir) -> Child:
    log = open(log_dir / f"{name}.log", "ab")
    env = {**os.environ, **CHILD_ENV.get(name, {})}
    # Dramatiq's main process ends at once with the launcher (its worker processes follow it,
    # objecta.broker.DieWithPool): a graceful stop could wait forever with Redis gone too.
    death = signal.SIGKILL if name == "worker" else signal.SIGTERM
    process = subprocess.Popen(argv, stdout=log, stderr=subprocess.STDOUT, process_group=0,
                               preexec_fn=lambda: die_with_parent(death), env=env)
    log.close()
    return Child(name, where, process, argv)


# Modules of workers/ that hold plumbing rather than a queue's actors.
WORKER_PLUMBING = {"__init__", "actors", "broker", "context", "commands", "runner", "scheduled"}


def queue_modules() -> list[str]:
    """Every `workers.<queue>` module (found on disk: importing workers would configure a broker here)."""
    folder = Path(__file__).resolve().parent.parent / "workers"
    return sorted(f"workers.{path.stem}" for path in folder.glob("*.py") if path.stem not in WORKER_PLUMBING)


def application_processes(settings: Settings) -> list[tuple[str, str, list[str]]]:
    """(name, where it listens or what it does, argv) of every application process `up` runs."""
    python = sys.executable
    host, http = settings.http.host, settings.http
    return [
        ("edge", f"http://{host}:{http.edge_port}",
         [python, "-m", "uvicorn", "--factory", "edge.app:create_app", "--host", host,
          "--port", str(http.edge_port), "--no-access-log",
          # The client's address is ours to work out (TRUSTED_PROXIES, edge/client_ip.py): uvicorn would
          # otherwise believe X-Forwarded-For from any loopback peer.
          "--no-proxy-headers"]),
        ("relay", f"ws://{host}:{http.relay_port}/?token=ACCESS_TOKEN",
         [python, "-m", "edge.relay", "--host", host, "--port", str(http.relay_port)]),
        # One process for every queue here; production runs a pool per queue.
        ("worker", "queues: " + ", ".join(m.removeprefix("workers.") for m in queue_modules()),
         [python, "-m", "dramatiq", "workers.broker", *queue_modules(), "--processes", "2", "--threads", "4"]),
        ("scheduler", "cron: schedules/__init__.py",
         [str(Path(python).parent / "periodiq"), "workers.broker", "workers.maintenance"]),
    ]


def stop_children(children: list[Child], timeout: float = 20) -> None:
    for child in reversed(children):
        child.stop()
    deadline = time.monotonic() + timeout
    for child in reversed(children):
        try:
            child.process.wait(max(0.1, deadline - time.monotonic()))
        except subprocess.TimeoutExpired:
            pass
        child.kill()  # after the timeout, or anything the child left in its group
        child.process.wait()


def up(settings: Settings) -> int:
    stop_requested = []

    def request_stop(signum, _frame):
        stop_requested.append(signum)
        raise Stopping()

    signal.signal(signal.SIGINT, request_stop)
    signal.signal(signal.SIGTERM, request_stop)
    children: list[Child] = []
    try:
        with backing_services(settings) as (settings, servers):
            try:
                migrate(settings)
                if not settings.is_production:
                    # Development: the catalog is always there; production runs `objecta billing sync-catalog`.
                    sync_billing_catalog(settings)
                log_dir = _log_dir(settings)
                for name, where, argv in application_processes(settings):
                    children.append(_spawn(name, where, argv, log_dir))
                edge = children[0]
                embedded.wait_for_http(f"http://{settings.http.host}:{settings.http.edge_port}/readyz",
                                       edge.process, 60, edge.name, log_dir / f"{edge.name}.log")
                _print_table(settings, servers, children, log_dir)
                while True:
                    for index, child in enumerate(children):
                        if child.process.poll() is None:
                            continue
                        # Supervise like an operator's process manager would: a worker
                        # killed by a poison message comes back; a crash loop stops all.
                        if time.monotonic() - child.started > STABLE_AFTER:
                            child.restarts = 0
                        if child.restarts >= MAX_RESTARTS:
                            print(f"objecta: {child.name} keeps exiting; stopping everything "
                                  f"(see {log_dir / (child.name + '.log')})", file=sys.stderr)
                            return 1
                        print(f"objecta: {child.name} exited with code {child.process.returncode}; restarting",
                              file=sys.stderr, flush=True)
                        # Its own children (Dramatiq's worker processes) outlive a killed parent
                        # and would keep consuming beside the new pool: end its whole group.
                        child.kill()
                        time.sleep(min(2 ** child.restarts, 10))
                        children[index] = _spawn(child.name, child.where, child.argv, log_dir)
                        children[index].restarts = child.restarts + 1
                    time.sleep(0.5)
            except Stopping:
                print("\nobjecta: stopping…", flush=True)
                return 0
            finally:
                # Ignore a second Ctrl-C while we shut down in order.
                signal.signal(signal.SIGINT, signal.SIG_IGN)
                signal.signal(signal.SIGTERM, signal.SIG_IGN)
                stop_children(children)
    except Stopping:
        return 0
    finally:
        if stop_requested or children:
            print("objecta: stopped", flush=True)


def _print_table(settings: Settings, servers: list[EmbeddedServer], children: list[Child], log_dir) -> None:
    rows = [(s.name + " (embedded)", s.url) for s in servers]
    if settings.database.url and not any(s.name == "postgres" for s in servers):
        rows.append(("postgres", settings_module.redact(settings.database.url)))
    rows += [(c.name, c.where) for c in children]
    rows += [("openapi", f"http://{settings.http.host}:{settings.http.edge_port}/schema"),
             ("data", str(settings.home)), ("logs", str(log_dir))]
    width = max(len(name) for name, _ in rows)
    print("objecta is up:")
    for name, where in rows:
        print(f"  {name:<{width}}  {where}")
    print("Press Ctrl-C to stop.", flush=True)
