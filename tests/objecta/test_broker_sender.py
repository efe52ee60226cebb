"""The broker sender gives up a send that never returns, instead of refusing every send after it."""

from __future__ import annotations

import threading
import time

import pytest

from domain.jobs import Job
from objecta import broker as broker_module
from objecta.broker import BrokerSender, BrokerUnavailable


class HangsOnce:
    """A broker whose first enqueue blocks for good (pika waiting for a confirm on a dead connection)."""

    def __init__(self):
        self.release = threading.Event()
        self.calls = 0
        self.sent = []

    def enqueue(self, message, delay=None):
        self.calls += 1
        if self.calls == 1:
            self.release.wait(60)
            raise ConnectionError("the connection died")
        self.sent.append(message.actor_name)
        return message


def test_a_send_stuck_for_good_is_left_behind_and_sending_resumes(monkeypatch):
    monkeypatch.setattr(broker_module, "ABANDON_STUCK_AFTER", 0.5)
    broker = HangsOnce()
    sender = BrokerSender(broker, timeout=0.2, pause=0.2)
    job = Job("agents", "agents.deploy", ("c", "o"))
    try:
        with pytest.raises(BrokerUnavailable):
            sender.send(job)  # hangs: given up after the timeout
        with pytest.raises(BrokerUnavailable):
            sender.send(job)  # the stuck send is still running: refused at once
        time.sleep(0.6)
        sender.send(job)  # past ABANDON_STUCK_AFTER: a new sending thread, and it goes through
        assert broker.sent == ["agents.deploy"]
    finally:
        broker.release.set()
