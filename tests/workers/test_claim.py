"""The worker's bookkeeping of one delivery (decision 118): claim in one statement, succeed without a re-read."""

from __future__ import annotations

import asyncio
import uuid

import psycopg
import pytest

from domain.commands import service as commands
from domain.commands.errors import CommandNotFound
from domain.commands.models import FAILED, RUNNING, SUCCEEDED, CommandKind
from domain.db import Database

NOOP = CommandKind("test.noop", queue="test", actor="test.noop")


class Recorder:
    def __init__(self):
        self.sent, self.events = [], []

    def send(self, job):
        self.sent.append(job)

    async def publish(self, channel, event_type, data):
        self.events.append((event_type, data["status"], data["attempts"]))
        return str(len(self.events))


def _scenario(settings, owner, steps):
    recorder = Recorder()
    org, user = uuid.UUID(owner.org_id), uuid.UUID(owner.user_id)

    async def run():
        db = Database(settings.database.app_url, pool_size=1, jobs=recorder)
        try:
            async with db.transaction(org_id=org, user_id=user) as session:
                command = await commands.submit(session, NOOP, org_id=org, user_id=user, payload={"n": 1})
            return await steps(db, command.id, org, user, recorder)
        finally:
            await db.dispose()

    return asyncio.run(run())


def test_a_claim_counts_the_attempt_and_a_delivery_out_of_attempts_fails(settings, owner):
    async def steps(db, command_id, org, user, recorder):
        for attempt in (1, 2):
            published = len(recorder.events)
            async with db.transaction(org_id=org) as session:
                claimed = await commands.start(session, command_id, max_attempts=2, publisher=recorder)
                assert len(recorder.events) == published  # not before the commit
            assert (claimed.status, claimed.attempts, claimed.payload) == (RUNNING, attempt, {"n": 1})
            assert recorder.events[-1] == ("command.updated", RUNNING, attempt)
        async with db.transaction(org_id=org) as session:
            exhausted = await commands.start(session, command_id, max_attempts=2, publisher=recorder)
            assert exhausted.status == FAILED and session.is_modified(exhausted)  # what the runner dead-letters
        assert exhausted.error.startswith("gave up after 2 attempts: ")
        assert recorder.events[-1] == ("command.updated", FAILED, 2)
        async with db.transaction(org_id=org) as session:  # a duplicate delivery of a finished command
            again = await commands.start(session, command_id, max_attempts=2, publisher=recorder)
            assert again.status == FAILED and not session.is_modified(again)
        assert len(recorder.events) == 3

    _scenario(settings, owner, steps)


def test_succeed_records_the_result_with_the_work_and_publishes_after_the_commit(settings, owner):
    async def steps(db, command_id, org, user, recorder):
        async with db.transaction(org_id=org) as session:
            claimed = await commands.start(session, command_id, max_attempts=5, publisher=recorder)
        async with db.transaction(org_id=org, user_id=user) as session:
            await commands.succeed(session, claimed, {"ok": True}, recorder)
            assert recorder.events[-1][1] == RUNNING
        assert recorder.events[-1] == ("command.updated", SUCCEEDED, 1)
        async with db.transaction(org_id=org) as session:
            stored = await commands.get(session, command_id)
        assert (stored.status, stored.result, stored.error, stored.attempts) == (SUCCEEDED, {"ok": True}, None, 1)
        assert stored.finished_at == stored.updated_at == claimed.finished_at

    _scenario(settings, owner, steps)


def test_succeed_on_a_command_deleted_meanwhile_rolls_the_work_back(settings, owner):
    async def steps(db, command_id, org, user, recorder):
        async with db.transaction(org_id=org) as session:
            claimed = await commands.start(session, command_id, max_attempts=5, publisher=recorder)
        with psycopg.connect(settings.database.url, autocommit=True) as connection:
            connection.execute("delete from commands where id = %s", (command_id,))
        with pytest.raises(CommandNotFound):
            async with db.transaction(org_id=org, user_id=user) as session:
                await commands.succeed(session, claimed, {"ok": True}, recorder)
        assert recorder.events[-1][1] == RUNNING  # nothing published for a rolled-back success

    _scenario(settings, owner, steps)
