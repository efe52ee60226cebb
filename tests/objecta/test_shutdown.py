"""SIGTERM, as an orchestrator stops a process: each kind exits 0 within a bound, finishing or handing back its work.

The relay's own test is in tests/edge/test_relay.py (`test_health_check_and_a_clean_stop_on_sigterm`: its
clients are closed with 1001 "going away" and it exits 0).
"""

from __future__ import annotations

import json
import os
import signal
import socket
import subprocess
import sys
import time
import urllib.request
from pathlib import Path

from objecta.embedded import free_port, wait_for_port
from tests.fixtures.relay import REPO
from tests.fixtures.worker import wait_for
from tests.objecta.test_logs import Edge


def _deploy(account, model):
    agent = account.post("/v1/agents", json={"name": "bot", "model": model}).json()
    return account.post(f"/v1/agents/{agent['id']}/deploy").json()["command_id"]


def _command(account, command_id):
    return account.get(f"/v1/commands/{command_id}").json()


def test_the_edge_finishes_a_request_in_flight_then_exits_0(test_env, settings, tmp_path):
    edge = Edge(test_env, tmp_path / "edge.log")
    body = json.dumps({"email": "nobody@example.com", "password": "not the password"}).encode()
    with socket.create_connection(("127.0.0.1", edge.port), timeout=10) as connection:
        # The request has begun (headers and half its body) when the stop comes.
        connection.sendall(b"POST /v1/auth/login HTTP/1.1\r\nHost: edge\r\nContent-Type: application/json\r\n"
                           b"Content-Length: %d\r\n\r\n" % len(body) + body[:10])
        time.sleep(0.5)
        began = time.monotonic()
        edge.process.send_signal(signal.SIGTERM)
        time.sleep(0.5)
        assert edge.process.poll() is None  # still serving the request
        connection.sendall(body[10:])
        answer = connection.recv(65536).decode()
    assert answer.startswith("HTTP/1.1 401"), answer  # answered in full, not cut off
    # uvicorn (0.30+) re-raises the SIGTERM it handled once its graceful shutdown is done, so the status is
    # the signal's (143 to a shell), as for any process a SIGTERM ended; the log says the shutdown ran.
    assert edge.process.wait(10) in (0, -signal.SIGTERM)
    assert time.monotonic() - began < 10
    log = (tmp_path / "edge.log").read_text()
    assert log.index("Waiting for connections to close") < log.index("POST /v1/auth/login HTTP/1.1\" 401") \
        < log.index("Application shutdown complete") < log.index("Finished server process")


def test_a_worker_pool_finishes_the_message_it_is_running_then_exits_0(owner, start_worker):
    worker = start_worker(["workers.agents"])
    command_id = _deploy(owner, "sim:slow:2")
    wait_for(lambda: _command(owner, command_id)["status"] == "running", 30, what="the deploy to start")
    began = time.monotonic()
    worker.process.send_signal(signal.SIGTERM)
    assert worker.process.wait(15) == 0, worker.log()
    assert time.monotonic() - began < 8  # --worker-shutdown-timeout is 5 s; the deploy needed 2
    command = _command(owner, command_id)
    assert command["status"] == "succeeded" and command["attempts"] == 1, command


def test_a_message_longer_than_the_shutdown_timeout_is_handed_back_and_runs_elsewhere(owner, start_worker):
    worker = start_worker(["workers.agents"])
    command_id = _deploy(owner, "sim:slow:9")
    wait_for(lambda: _command(owner, command_id)["status"] == "running", 30, what="the deploy to start")
    began = time.monotonic()
    worker.process.send_signal(signal.SIGTERM)
    worker.process.wait(20)
    assert time.monotonic() - began < 12, worker.log()  # the 5 s shutdown timeout, not the 9 s deploy
    assert _command(owner, command_id)["status"] != "succeeded"
    start_worker(["workers.agents"])  # the broker gives the unfinished message to the next pool
    command = wait_for(lambda: (c := _command(owner, command_id))["status"] == "succeeded" and c, 60,
                       what="the handed-back deploy to finish on the next pool")
    assert command["attempts"] == 2


def test_the_scheduler_exits_0_on_sigterm(test_env, settings, tmp_path):
    port = free_port()
    log_path = tmp_path / "scheduler.log"
    with open(log_path, "ab") as log:
        scheduler = subprocess.Popen(
            [str(periodiq_script()), "workers.broker", "workers.maintenance"], cwd=REPO,
            env={**os.environ, **test_env, "SCHEDULER_METRICS_PORT": str(port), "TZ": "UTC"},
            stdout=log, stderr=subprocess.STDOUT)
    try:
        wait_for_port(port, scheduler, 30, "the scheduler's exporter", log_path)
        with urllib.request.urlopen(f"http://127.0.0.1:{port}/metrics", timeout=5) as response:
            assert response.status == 200
        time.sleep(1)  # periodiq is in its loop, waiting for the next minute
        began = time.monotonic()
        scheduler.send_signal(signal.SIGTERM)
        assert scheduler.wait(10) == 0, log_path.read_text()[-2000:]
        assert time.monotonic() - began < 5
    finally:
        if scheduler.poll() is None:
            scheduler.kill()
            scheduler.wait()


def periodiq_script() -> Path:
    return Path(sys.executable).parent / "periodiq"
