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
import urllib.request
from contextlib import contextmanager
from dataclasses import dataclass, replace

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
    stop_signal: int = signal.SIGTERM

    def signal(self, signum: int) -> None:
        try:
            os.killpg(self.process.pid, signum)
        except ProcessLookupError:
            pass


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
        if env:
            # Children inherit these, so every process agrees on where the data is.
            os.environ.update(env)
            os.environ["OBJECTA_HOME"] = str(settings.home)
            settings = settings_module.load()
        yield settings, started
    finally:
        for server in reversed(started):
            server.stop()


def _spawn(name: str, where: str, argv: list[str], log_dir) -> Child:
    log = open(log_dir / f"{name}.log", "ab")
    process = subprocess.Popen(argv, stdout=log, stderr=subprocess.STDOUT, process_group=0,
                               preexec_fn=die_with_parent)
    log.close()
    return Child(name, where, process)


def application_processes(settings: Settings) -> list[tuple[str, str, list[str]]]:
    """(name, where it listens, argv) of every application process `up` runs."""
    python = sys.executable
    host, http = settings.http.host, settings.http
    return [
        ("edge", f"http://{host}:{http.edge_port}",
         [python, "-m", "uvicorn", "--factory", "edge.app:create_app", "--host", host,
          "--port", str(http.edge_port), "--no-access-log"]),
    ]


def _wait_http(url: str, child: Child, timeout: float = 60) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if child.process.poll() is not None:
            raise RuntimeError(f"{child.name} exited with code {child.process.returncode}; see its log")
        try:
            with urllib.request.urlopen(url, timeout=1) as response:
                if response.status == 200:
                    return
        except OSError:
            time.sleep(0.1)
    raise RuntimeError(f"{child.name} did not answer {url} within {timeout:.0f}s")


def stop_children(children: list[Child], timeout: float = 20) -> None:
    for child in reversed(children):
        child.signal(child.stop_signal)
    deadline = time.monotonic() + timeout
    for child in reversed(children):
        try:
            child.process.wait(max(0.1, deadline - time.monotonic()))
        except subprocess.TimeoutExpired:
            child.signal(signal.SIGKILL)
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
                log_dir = settings.home / "logs"
                log_dir.mkdir(parents=True, exist_ok=True)
                for name, where, argv in application_processes(settings):
                    children.append(_spawn(name, where, argv, log_dir))
                _wait_http(f"http://{settings.http.host}:{settings.http.edge_port}/readyz", children[0])
                _print_table(settings, servers, children, log_dir)
                while True:
                    for child in children:
                        if child.process.poll() is not None:
                            print(f"objecta: {child.name} exited with code {child.process.returncode}; "
                                  f"stopping everything (see {log_dir / (child.name + '.log')})", file=sys.stderr)
                            return 1
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
