"""Every job the domain can enqueue, and every schedule entry, names an actor declared on its queue.

A job sent to a name no worker declares sits in its queue forever (or is
dropped by the worker with a warning): a typo there loses work silently. The
domain declares its kinds as `JobKind`/`CommandKind` constants and
`domain.jobs.enqueue` takes nothing else, so checking every constant covers
every enqueue.
"""

from __future__ import annotations

import importlib
import json
import os
import pkgutil
import subprocess
import sys

import pytest

import domain
from domain.commands.models import CommandKind
from domain.jobs import JobKind


def _declared_kinds() -> dict[str, JobKind]:
    kinds: dict[str, JobKind] = {}
    for module_info in pkgutil.walk_packages(domain.__path__, "domain."):
        module = importlib.import_module(module_info.name)
        for name, value in vars(module).items():
            if isinstance(value, CommandKind):
                value = value.job
            if isinstance(value, JobKind):
                kinds[f"{module_info.name}.{name}"] = value
    return kinds


# Run where the workers run: a fresh interpreter importing the broker, then every queue's module.
DECLARED_ACTORS = """
import importlib, json, sys
import dramatiq
import workers.broker
for module in sys.argv[1:]:
    importlib.import_module(module)
import schedules
broker = dramatiq.get_broker()
print(json.dumps({"actors": {name: broker.get_actor(name).queue_name for name in broker.get_declared_actors()},
                  "schedule": [[entry.job, entry.queue] for entry in schedules.TABLE]}))
"""


@pytest.fixture(scope="module")
def declared(test_env, settings) -> dict:
    """Actor name → queue, as a worker pool of every queue declares them; and the schedule table."""
    from tests.fixtures.worker import ALL_QUEUES
    found = subprocess.run([sys.executable, "-c", DECLARED_ACTORS, *ALL_QUEUES], env={**os.environ, **test_env},
                           capture_output=True, text=True, timeout=60)
    assert found.returncode == 0, found.stderr[-3000:]
    return json.loads(found.stdout.strip().splitlines()[-1])


@pytest.fixture(scope="module")
def actors(declared) -> dict[str, str]:
    return declared["actors"]


def test_the_domain_declares_its_jobs():
    kinds = _declared_kinds()
    # Not an empty walk: the kinds of every capability that sends work are found.
    assert {"email.send", "notifications.deliver", "billing.handle_event", "agents.deploy", "team.invite",
            "billing.subscribe"} <= {kind.actor for kind in kinds.values()}


def test_every_declared_job_is_an_actor_on_its_queue(actors):
    wrong = {where: (kind.actor, kind.queue, actors.get(kind.actor))
             for where, kind in _declared_kinds().items() if actors.get(kind.actor) != kind.queue}
    assert wrong == {}, "declared job → (actor, queue, queue the actor is really on or None)"


def test_every_schedule_entry_is_an_actor_on_its_queue(declared, actors):
    schedule = declared["schedule"]
    assert schedule, "the schedule table is empty"
    wrong = {job: (queue, actors.get(job)) for job, queue in schedule if actors.get(job) != queue}
    assert wrong == {}
    assert {f"schedules.{job}" for job, _ in schedule} <= set(actors)  # each entry's tick


def test_enqueue_refuses_a_name_that_is_not_a_declared_kind():
    from domain import jobs
    with pytest.raises(TypeError):
        jobs.enqueue(None, "email.send", "key")  # type: ignore[arg-type]
