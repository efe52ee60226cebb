"""One organization's flood of slow work does not hold up another's (ORG_CONCURRENCY_PER_QUEUE).

A pool of four threads and the default cap of two: the flooding organization
runs two deploys at a time, and the other threads stay free for everyone else.
"""

from __future__ import annotations

import time

from sqlalchemy import create_engine, text

from domain.db import sqlalchemy_url
from tests.fixtures.app import client_with, sign_up
from tests.fixtures.worker import wait_for

FLOOD = 8
SLOW = 5  # seconds each flooding deploy takes
THREADS = 4


def _deploy(account, model):
    agent = account.post("/v1/agents", json={"name": "bot", "model": model})
    assert agent.status_code == 201, agent.text
    response = account.post(f"/v1/agents/{agent.json()['id']}/deploy")
    assert response.status_code == 202, response.text
    return response.json()["command_id"]


def _command(account, command_id):
    return account.get(f"/v1/commands/{command_id}").json()


def _most_at_once(settings, org_id) -> int:
    """The most commands of the organization that were running at the same moment (from Postgres' clock)."""
    engine = create_engine(sqlalchemy_url(settings.database.url))
    with engine.connect() as connection:
        rows = connection.execute(text("select started_at, finished_at from commands where org_id = :o"),
                                  {"o": org_id}).all()
    engine.dispose()
    # A finish sorts before a start at the same instant: the slot is given back after the finish commits.
    events = sorted([(start, 1) for start, _ in rows] + [(end, -1) for _, end in rows])
    running = most = 0
    for _, change in events:
        running += change
        most = max(most, running)
    return most


def test_a_flooding_organization_does_not_hold_up_another(settings, client, start_worker):
    with client_with(settings, free_plan_agents=FLOOD) as flooding_edge:
        flooder = sign_up(flooding_edge)
        start_worker(["workers.agents"], threads=THREADS)
        flood = [_deploy(flooder, f"sim:slow:{SLOW}") for _ in range(FLOOD)]
        flood_started = time.monotonic()
        wait_for(lambda: sum(_command(flooder, c)["status"] == "running" for c in flood) >= 2, 30,
                 what="the flood to start")

        other = sign_up(client)
        sent = time.monotonic()
        command_id = _deploy(other, "gpt-4o")
        quick = wait_for(lambda: (c := _command(other, command_id))["status"] in ("succeeded", "failed") and c,
                         60, what="the other organization's deploy")
        waited = time.monotonic() - sent

        finished = wait_for(lambda: all(_command(flooder, c)["status"] in ("succeeded", "failed") for c in flood),
                            120, interval=0.5, what="the flood to finish")
        flood_took = time.monotonic() - flood_started
        commands = [_command(flooder, c) for c in flood]

    assert finished and quick["status"] == "succeeded", quick
    # Without the cap all four threads are busy with the flood and the deploy queues behind it: it would
    # wait at least one slow deploy (about two: it is behind four more). With it, a thread is free.
    assert waited < SLOW, f"the other organization waited {waited:.1f}s; the flood took {flood_took:.1f}s"
    # The flood was slowed down, not failed: every deploy succeeded on its first and only attempt.
    assert [(c["status"], c["attempts"]) for c in commands] == [("succeeded", 1)] * FLOOD, commands
    assert _most_at_once(settings, flooder.org_id) == settings.broker.org_concurrency == 2
