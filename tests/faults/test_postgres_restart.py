"""Postgres restarted under load: 503 while it is down, nothing accepted lost, and back without restarting the edge.

The test runs its own embedded Postgres (never the machine's, which other suites share), migrates it, and
points an edge and a worker pool at it. Mid-load the server is stopped as an operator restarts it (fast
shutdown: open transactions roll back, every connection closes), left down, and started again on its data.
"""

from __future__ import annotations

import time

import pytest

from objecta import embedded
from objecta import settings as settings_module
from objecta.migrate import migrate
from tests.faults.figures import scale
from tests.faults.load import Load, wait_until_finished
from tests.faults.stack import ROOMY, Person

DOWN = scale("FAULTS_POSTGRES_DOWN_SECONDS", 8)
SLOWEST_ANSWER = 8.0
# Once Postgres listens again, how long before every request must succeed (pools find their dead connections).
BACK_WITHIN = 3.0


@pytest.fixture
def own_postgres(tmp_path):
    data, port = tmp_path / "postgres" / "data", embedded.free_port()
    servers = [embedded.start_postgres(data, port)]

    def restart(down: float) -> float:
        servers[-1].stop()
        time.sleep(down)
        servers.append(embedded.start_postgres(data, port))
        return time.monotonic()

    yield servers[0].url, restart
    servers[-1].stop()


@pytest.mark.timeout(240)
def test_requests_answer_503_while_postgres_is_down_and_succeed_once_it_is_back(
        own_postgres, test_env, start_worker, start_edge, figures):
    url, restart = own_postgres
    env = {**test_env, **ROOMY, "DATABASE_URL": url}
    env.pop("APP_DATABASE_URL", None)
    migrate(settings_module.load(env))
    start_worker(env=env)
    edge = start_edge(env)
    person = Person(edge)
    agents = [person.agent() for _ in range(4)]

    load = Load(edge.url, dict(person.http.headers), lambda client, n: (
        "deploy", client.post(f"/v1/agents/{agents[n % len(agents)]}/deploy")), writers=3, readers=1, pause=0.05,
        read_paths=lambda: [f"/v1/agents/{agents[0]}", "/v1/agents"]).start()
    time.sleep(3)
    stopped_at = time.monotonic()
    back_at = restart(DOWN)
    time.sleep(BACK_WITHIN + 4)
    answers = load.stop()
    accepted = [a.command_id for a in answers if a.command_id]
    finished = wait_until_finished(url, accepted, 120)
    person.close()

    ok = [a for a in answers if a.status in (200, 202)]
    during = [a for a in answers if a.started < back_at and a.started + a.seconds > stopped_at]
    unavailable = [a for a in answers if a.status == 503]
    first_success = min((a.started + a.seconds for a in ok if a.started >= back_at), default=float("nan"))
    figures.update({
        "postgres down (s)": DOWN, "requests": len(answers), "during the restart": len(during),
        "503 unavailable": len(unavailable), "other answers (500s, hangs)": len(answers) - len(ok) - len(unavailable),
        "max latency during the restart (s)": max((a.seconds for a in during), default=0.0),
        "recovery: listening → first success (s)": first_success - back_at,
        "failures later than that + 3 s": sum(a.status not in (200, 202) for a in answers
                                               if a.started > back_at + BACK_WITHIN),
        "202 accepted": len(accepted),
        "accepted commands lost": sum(finished.get(i, {}).get("status") != "succeeded" for i in accepted),
    })

    strays = [(a.what, a.status, a.error or a.body) for a in answers if a not in ok and a not in unavailable]
    assert strays == [], f"neither a success nor a 503:\n{strays[:5]}\n{edge.log()}"
    assert unavailable, "Postgres was down: some request should have been told so"
    for answer in unavailable:
        assert answer.body["error"]["code"] == "unavailable" and answer.body["error"]["message"], answer.body
        assert answer.retry_after, answer
    assert max(a.seconds for a in during) < SLOWEST_ANSWER, figures
    assert figures["failures later than that + 3 s"] == 0, figures
    assert figures["accepted commands lost"] == 0, figures


def test_the_first_request_after_a_quiet_restart_succeeds(own_postgres, test_env, start_edge, figures):
    """Postgres restarted while nobody was asking: every pooled connection is dead, and no request found out
    during the restart. The pool pings a connection before lending it, so the first request still succeeds."""
    url, restart = own_postgres
    env = {**test_env, "DATABASE_URL": url}
    env.pop("APP_DATABASE_URL", None)
    migrate(settings_module.load(env))
    edge = start_edge(env)
    person = Person(edge)
    agents = [person.agent() for _ in range(3)]
    # Several requests at once, so the pool holds several connections, all to be found dead.
    load = Load(edge.url, dict(person.http.headers), lambda client, n: (
        "get", client.get(f"/v1/agents/{agents[n % 3]}")), writers=4, readers=0, limit=40).start()
    load.wait(30)
    back_at = restart(2)
    first = [person.http.get(f"/v1/agents/{agent}") for agent in agents]
    figures.update({"requests right after the restart": len(first),
                    "failed": sum(r.status_code != 200 for r in first),
                    "seconds from listening to answered": time.monotonic() - back_at})
    person.close()

    assert [r.status_code for r in first] == [200, 200, 200], [r.text for r in first]
