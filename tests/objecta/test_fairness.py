"""The per-organization cap's middleware on its own, against the session's real Redis (Valkey).

(tests/workers/test_fairness.py runs it in a real worker pool.)
"""

from __future__ import annotations

import logging
import uuid
from concurrent.futures import ThreadPoolExecutor

import dramatiq
import pytest
import redis
from dramatiq.brokers.redis import RedisBroker
from dramatiq.middleware import SkipMessage

from objecta.fairness import DEFERRALS, OrgFairness


@pytest.fixture
def broker(redis_url):
    broker = RedisBroker(url=redis_url, namespace=f"objecta-test-{uuid.uuid4().hex[:8]}")
    broker.declare_queue("agents")
    yield broker
    broker.close()


def _message(org_id: str | None, **options) -> dramatiq.MessageProxy:
    options = {**options, **({"org_id": org_id} if org_id else {})}
    return dramatiq.MessageProxy(dramatiq.Message(queue_name="agents", actor_name="agents.deploy",
                                                  args=("c", org_id), kwargs={}, options=options))


def test_over_the_cap_a_message_waits_in_the_delay_queue_until_a_slot_comes_back(broker, redis_url):
    fairness = OrgFairness(redis_url=redis_url, namespace=broker.namespace, limit=1, lease_ms=10_000)
    org = str(uuid.uuid4())
    # Two worker threads: Dramatiq calls a message's hooks on the thread that runs it.
    with ThreadPoolExecutor(1) as first, ThreadPoolExecutor(1) as second:
        first.submit(fairness.before_process_message, broker, _message(org)).result()  # takes the one slot
        with pytest.raises(SkipMessage):
            second.submit(fairness.before_process_message, broker, _message(org, **{DEFERRALS: 3})).result()
        second.submit(fairness.after_skip_message, broker, None).result()  # gives back nothing it did not take
        waiting = redis.Redis.from_url(redis_url).hvals(f"{broker.namespace}:agents.DQ.msgs")
        assert [dramatiq.Message.decode(m).options[DEFERRALS] for m in waiting] == [4]

        for other in (_message(str(uuid.uuid4())), _message(None)):  # another organization; a job of no one's
            second.submit(fairness.before_process_message, broker, other).result()
            second.submit(fairness.after_process_message, broker, other).result()
        with pytest.raises(SkipMessage):
            second.submit(fairness.before_process_message, broker, _message(org)).result()  # still at the cap

        first.submit(fairness.after_process_message, broker, None).result()
        second.submit(fairness.before_process_message, broker, _message(org)).result()  # its turn now
    fairness.before_worker_shutdown(broker, None)  # stops the lease renewer


def test_without_redis_work_runs_uncapped_with_a_warning(broker, caplog):
    fairness = OrgFairness(redis_url="redis://127.0.0.1:1/0", namespace=broker.namespace, limit=1, lease_ms=10_000)
    with caplog.at_level(logging.WARNING, logger="objecta.fairness"):
        for _ in range(3):
            fairness.before_process_message(broker, _message(str(uuid.uuid4())))  # no SkipMessage: runs
            fairness.after_process_message(broker, None)
    warnings = [r.getMessage() for r in caplog.records if r.name == "objecta.fairness"]
    assert len(warnings) == 1 and "cannot reach Redis for the per-organization cap" in warnings[0]
