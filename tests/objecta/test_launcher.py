"""`objecta up` in a subprocess: it becomes ready, keeps data, and leaves no orphan."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
import urllib.request
from pathlib import Path

import pytest

from objecta.embedded import free_port


def _children_of(pid: int) -> set[int]:
    """Every live descendant of pid, read from /proc."""
    parents = {}
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit():
            try:
                stat = (entry / "stat").read_text()
            except OSError:
                continue
            parents[int(entry.name)] = int(stat.rsplit(")", 1)[1].split()[1])
    found, frontier = set(), {pid}
    while frontier:
        frontier = {child for child, parent in parents.items() if parent in frontier} - found
        found |= frontier
    return found


def _alive(pid: int) -> bool:
    try:
        state = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0]
    except OSError:
        return False
    return state != "Z"


def _http(url: str, body: dict | None = None) -> tuple[int, dict]:
    data = json.dumps(body).encode() if body is not None else None
    request = urllib.request.Request(url, data=data, headers={"Content-Type": "application/json"})
    try:
        with urllib.request.urlopen(request, timeout=5) as response:
            return response.status, json.loads(response.read() or b"{}")
    except urllib.error.HTTPError as e:
        return e.code, json.loads(e.read() or b"{}")


class Stack:
    def __init__(self, env: dict, home: Path):
        self.env, self.home = env, home
        self.edge = f"http://127.0.0.1:{env['EDGE_PORT']}"
        self.process: subprocess.Popen | None = None
        self.descendants: set[int] = set()

    def start(self) -> str:
        """Start `objecta up` and wait for what a person waits for: its table of addresses."""
        self.process = subprocess.Popen([sys.executable, "-m", "objecta.cli", "up"], env=self.env,
                                        stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
        self.banner = ""
        for line in self.process.stdout:  # pytest-timeout bounds this
            self.banner += line
            if line.startswith("Press Ctrl-C"):
                break
        assert "objecta is up" in self.banner, self.banner + (self.process.stdout.read() or "")
        assert _http(self.edge + "/readyz")[0] == 200
        self.descendants = _children_of(self.process.pid)
        return self.edge

    def stop(self, signum: int, timeout: float = 40) -> int:
        self.process.send_signal(signum)
        code = self.process.wait(timeout)
        output = self.process.stdout.read()
        self.wait_for_no_orphans()
        return code, output

    def wait_for_no_orphans(self, timeout: float = 30) -> None:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline and any(_alive(p) for p in self.descendants):
            time.sleep(0.1)
        survivors = [p for p in self.descendants if _alive(p)]
        assert survivors == [], f"orphans left behind: {[_cmdline(p) for p in survivors]}"


@pytest.fixture
def stack(tmp_path, test_env):
    env = {**os.environ, **test_env, "OBJECTA_HOME": str(tmp_path / "home"), "EDGE_PORT": str(free_port()),
           "RELAY_PORT": str(free_port()), "EMBEDDED_POSTGRES_PORT": str(free_port()),
           "EMBEDDED_REDIS_PORT": str(free_port()), "EMBEDDED_STRIPE_PORT": str(free_port())}
    for name in ("DATABASE_URL", "REDIS_URL", "STRIPE_API_BASE"):
        # The suite's mode decides the launcher's: embedded unless the run was given servers.
        if not os.environ.get(name):
            env.pop(name, None)
    made = Stack(env, tmp_path / "home")
    yield made
    if made.process and made.process.poll() is None:
        made.process.kill()
        made.process.wait()


def test_up_is_ready_and_sigterm_stops_every_child(stack):
    stack.start()
    assert len(stack.descendants) >= 1
    code, output = stack.stop(signal.SIGTERM)
    assert code == 0, output
    assert stack.edge in stack.banner and "stopped" in output
    # No STRIPE_SECRET_KEY: the stand-in ran as one of our children, said so, and had the catalog.
    assert "local Stripe stand-in (localstripe)" in stack.banner


def test_sync_catalog_needs_somewhere_to_sync_to(stack):
    result = subprocess.run([sys.executable, "-m", "objecta.cli", "billing", "sync-catalog"], env=stack.env,
                            capture_output=True, text=True, timeout=60)
    assert result.returncode == 2 and "STRIPE_SECRET_KEY" in result.stderr


def test_sync_catalog_is_idempotent(test_env, settings):
    env = {**os.environ, **test_env}
    for _ in range(2):
        result = subprocess.run([sys.executable, "-m", "objecta.cli", "billing", "sync-catalog"], env=env,
                                capture_output=True, text=True, timeout=60)
        assert result.returncode == 0, result.stderr
    assert "created: nothing" in result.stdout


def test_ctrl_c_stops_cleanly_and_a_second_up_finds_yesterdays_data(stack):
    edge = stack.start()
    email = f"persist-{os.getpid()}-{time.time_ns()}@example.com"
    status, _ = _http(edge + "/v1/auth/signup", {"email": email, "password": "long enough pw", "name": "P",
                                                  "organization_name": "P"})
    assert status == 201
    code, output = stack.stop(signal.SIGINT)
    assert code == 0, output
    edge = stack.start()
    status, body = _http(edge + "/v1/auth/login", {"email": email, "password": "long enough pw"})
    assert status == 200, body
    stack.stop(signal.SIGINT)


def test_a_killed_launcher_takes_its_children_with_it(stack):
    stack.start()
    stack.process.kill()
    stack.process.wait()
    stack.wait_for_no_orphans()


def _cmdline(pid: int) -> str:
    try:
        return f"{pid}: " + Path(f"/proc/{pid}/cmdline").read_bytes().replace(b"\0", b" ").decode()[:200]
    except OSError:
        return f"{pid}: (gone)"


def _dramatiq_mains(launcher_pid: int) -> set[int]:
    """Dramatiq main processes among the launcher's children (not their worker processes)."""
    found = set()
    for pid in _children_of(launcher_pid):
        try:
            cmdline = Path(f"/proc/{pid}/cmdline").read_bytes().split(b"\0")
            parent = int(Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[1])
        except OSError:
            continue
        if b"dramatiq" in cmdline and parent == launcher_pid:
            found.add(pid)
    return found


def test_up_restarts_a_worker_that_dies(stack):
    stack.start()
    (first,) = _dramatiq_mains(stack.process.pid)
    os.kill(first, signal.SIGKILL)
    deadline = time.monotonic() + 30
    while not (_dramatiq_mains(stack.process.pid) - {first}):
        assert time.monotonic() < deadline, "the worker was not restarted"
        time.sleep(0.2)
    assert stack.process.poll() is None
    stack.descendants = _children_of(stack.process.pid) | stack.descendants
    code, output = stack.stop(signal.SIGTERM)
    assert code == 0


def test_sync_catalog_refuses_a_plan_whose_price_changed_under_the_same_id(stripe_api):
    """Stripe plans cannot change their price: the catalog must give a new price a new id, and says so."""
    import asyncio
    import dataclasses

    from domain.billing.errors import PaymentRejected
    from domain.adapters.stripe_payments import StandInPayments
    from domain.billing.plans import PLANS

    async def ensure(plan):
        payments = StandInPayments(stripe_api)
        try:
            return await payments.ensure_plan(plan)
        finally:
            await payments.close()

    assert asyncio.run(ensure(PLANS["starter"])) is False  # synced at the session's start, the same tiers
    dearer = dataclasses.replace(PLANS["starter"], price=PLANS["starter"].price + 100)
    with pytest.raises(PaymentRejected, match="give the catalog entry a new id"):
        asyncio.run(ensure(dearer))


def test_sync_catalog_says_why_when_stripe_cannot_be_reached(test_env):
    import socket

    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        closed = probe.getsockname()[1]
    env = {**os.environ, **test_env, "STRIPE_API_BASE": f"http://127.0.0.1:{closed}"}
    result = subprocess.run([sys.executable, "-m", "objecta.cli", "billing", "sync-catalog"], env=env,
                            capture_output=True, text=True, timeout=120)
    assert result.returncode == 1, result.stderr
    assert "the plans catalog was not synced: Stripe could not be reached" in result.stderr
    assert "Traceback" not in result.stderr
