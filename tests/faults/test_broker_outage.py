"""The broker goes away for 10 s under load, then comes back.

A proxy stands between every process and the broker (Redis, or RabbitMQ when it is the broker) and is cut:
`refused` is the broker's process dying, `silent` a network partition where packets vanish. Promised:
every write answers within seconds, either 202 (accepted durably: it completes after recovery, through
the sweeper if its enqueue was lost) or 503 in the error format; never a 500, never a hang; reads go on;
a write that only publishes an event after its commit (read-all, the badge) answers 200 as usual.
With Redis as the broker, Redis also holds the invitation rate limit: invitations answer 503 meanwhile.
"""

from __future__ import annotations

import time
import uuid
from datetime import datetime, timezone
from urllib.parse import urlsplit

import pytest

from domain.jobs import Job
from objecta.broker import BrokerSender, build_broker
from tests.faults.figures import scale
from tests.faults.load import Load, wait_until_finished
from tests.faults.proxy import REFUSED, SILENT, TcpProxy
from tests.faults.stack import ROOMY, Person

OUTAGE = scale("FAULTS_OUTAGE_SECONDS", 10)
# What "never a hang" means here: the broker is given a few seconds, then the request is answered anyway.
SLOWEST_ANSWER = 8.0
# The scheduler sends the sweep every minute, for commands queued 5 minutes; the test shortens both. Not the
# interval below a sweep's own length: a sweep sends its jobs one by one on the worker's event loop, each
# waiting for RabbitMQ's publisher confirm, and sweeps sent faster than they finish starved every other actor.
STALE_AFTER = 8
SWEEP_EVERY = 15


@pytest.fixture
def broker_proxy(settings):
    url = settings.broker.url if settings.broker.is_rabbitmq else settings.redis.url
    parts = urlsplit(url)
    proxy = TcpProxy(parts.hostname, parts.port or (5672 if settings.broker.is_rabbitmq else 6379))
    yield proxy
    proxy.close()


def _through(proxy: TcpProxy, settings) -> dict:
    if settings.broker.is_rabbitmq:
        return {"BROKER_URL": proxy.url_for(settings.broker.url)}
    return {"REDIS_URL": proxy.url_for(settings.redis.url)}  # the broker, the relay's events, the rate limits


@pytest.mark.timeout(240)
@pytest.mark.parametrize("outage", [REFUSED, SILENT])
def test_writes_answer_202_or_503_and_every_accepted_command_completes(
        outage, broker_proxy, settings, test_env, start_worker, start_edge, figures):
    env = {**test_env, **ROOMY, **_through(broker_proxy, settings), "SWEEP_QUEUED_AFTER": str(STALE_AFTER)}
    start_worker(env=env)
    edge = start_edge(env)
    person = Person(edge)
    agents = [person.agent() for _ in range(4)]

    def write(client, n):
        if n % 4 == 2:  # an invitation counts against a rate limit kept in Redis
            return "invite", client.post("/v1/team/invitations", json={
                "email": f"guest-{n}-{uuid.uuid4().hex[:6]}@example.com", "role": "member"})
        if n % 4 == 3:  # commits, then publishes the badge to the relay through Redis
            return "read-all", client.post("/v1/notifications/read-all")
        return "deploy", client.post(f"/v1/agents/{agents[n % len(agents)]}/deploy")

    load = Load(edge.url, dict(person.http.headers), write, writers=3, readers=1, pause=0.05,
                read_paths=lambda: [f"/v1/agents/{agents[0]}", "/v1/agents"]).start()
    time.sleep(3)
    cut_at = time.monotonic()
    broker_proxy.cut(outage)
    time.sleep(OUTAGE)
    broker_proxy.restore()
    restored_at = time.monotonic()
    time.sleep(3)
    answers = load.stop()

    sweeper = BrokerSender(build_broker(settings))
    sweep = lambda: sweeper.send(Job("maintenance", "commands.sweep", (datetime.now(timezone.utc).isoformat(),)))
    accepted = [a.command_id for a in answers if a.command_id]
    time.sleep(max(0.0, STALE_AFTER - (time.monotonic() - restored_at)))  # the lost enqueues are stale by now
    finished = wait_until_finished(settings.database.url, accepted, 120, nudge=sweep, every=SWEEP_EVERY)
    recovered_in = time.monotonic() - restored_at
    sweeper.broker.close()
    person.close()

    writes = [a for a in answers if a.kind == "write"]
    # Everything in flight at some moment of the outage, including what was sent just before it.
    during = [a for a in writes if a.started < restored_at and a.started + a.seconds > cut_at]
    reads = [a for a in answers if a.kind == "read"]
    reads_during = [a for a in reads if a.started < restored_at and a.started + a.seconds > cut_at]
    unavailable = [a for a in writes if a.status == 503]
    figures.update({
        "outage (s)": OUTAGE, "writes": len(writes), "writes during the outage": len(during),
        "202 accepted": len(accepted), "503 unavailable": len(unavailable),
        "503 of them invitations": sum(a.what == "invite" for a in unavailable),
        "read-all (publishes after commit) not 200": sum(a.status != 200 for a in writes if a.what == "read-all"),
        "other answers (500s, hangs)": sum(a.status not in (200, 202, 503) for a in writes),
        "max write latency during outage (s)": max((a.seconds for a in during), default=0.0),
        "reads": len(reads), "reads not 200": sum(a.status != 200 for a in reads),
        "max read latency during outage (s)": max((a.seconds for a in reads_during), default=0.0),
        "accepted commands succeeded": sum(finished.get(i, {}).get("status") == "succeeded" for i in accepted),
        "accepted commands lost": sum(finished.get(i, {}).get("status") != "succeeded" for i in accepted),
        "recovery: restore → all accepted done (s)": recovered_in,
    })

    assert len(during) >= 5 and len(reads_during) >= 5, f"too little load during the outage to tell: {figures}"
    strays = [(a.what, a.status, a.error or a.body) for a in writes
              if a.status != (200 if a.what == "read-all" else 202) and not (a.status == 503 and a.what != "read-all")]
    assert strays == [], f"writes that were neither accepted nor 503:\n{strays[:5]}\n{edge.log()}"
    assert max(a.seconds for a in during + reads_during) < SLOWEST_ANSWER, figures
    for answer in unavailable:
        error = answer.body["error"]
        assert error["code"] == "unavailable" and error["message"] and answer.retry_after, answer
    assert [a for a in reads if a.status != 200] == []
    if not settings.broker.is_rabbitmq:
        assert any(a.what == "invite" for a in unavailable), "Redis was down: the rate limit could not be read"
    lost = {i: finished.get(i) for i in accepted if finished.get(i, {}).get("status") != "succeeded"}
    assert lost == {}, f"accepted commands that did not complete: {list(lost.items())[:5]}"
