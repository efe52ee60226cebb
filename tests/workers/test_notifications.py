"""Notifications end to end: trigger → worker → Postgres → relay → outbox, and the API."""

from __future__ import annotations

import asyncio
import email
import email.policy
import json
import uuid
from contextlib import asynccontextmanager
from pathlib import Path

import pytest
import redis.asyncio as aioredis

from domain.db import Database
from domain.notifications import service as notifications
from domain.realtime import RedisPublisher
from objecta.broker import BrokerSender, build_broker
from tests.fixtures.mail import ACCOUNT_SUBJECTS
from tests.fixtures.app import add_member
from tests.fixtures.worker import wait_for


@pytest.fixture(scope="module")
def relay(start_relay):
    return start_relay()


def _outbox(settings, recipient: str) -> list[email.message.EmailMessage]:
    found = []
    for path in sorted(Path(settings.mail.outbox).glob("*.eml")):
        message = email.message_from_bytes(path.read_bytes(), policy=email.policy.default)
        if message["To"] == recipient and not str(message["Subject"]).startswith(ACCOUNT_SUBJECTS):
            found.append(message)
    return found


def _events(browser, wanted: int, timeout: float = 30) -> list[dict]:
    events = []
    while len(events) < wanted:
        event = json.loads(browser.recv(timeout=timeout))
        if event["type"].startswith("notification."):
            events.append(event)
    return events


def test_a_deploy_notifies_over_the_relay_and_by_email_and_read_all_clears_the_badge(owner, worker, relay,
                                                                                       settings):
    agent = owner.post("/v1/agents", json={"name": "Greeter", "model": "gpt-4o"}).json()
    with relay.connect(owner) as browser:
        assert owner.post(f"/v1/agents/{agent['id']}/deploy").status_code == 202
        created, badge = _events(browser, 2)
    assert created["type"] == "notification.created"
    assert created["data"]["type"] == "agent.deployed"
    assert created["data"]["title"] == "Greeter is live"
    assert badge == {"id": badge["id"], "type": "notification.badge", "data": {"unread": 1}}
    assert owner.get("/v1/notifications/unread-count").json() == {"unread": 1}

    sent = wait_for(lambda: _outbox(settings, owner.email), 30, what="the email in the outbox")
    assert sent[0]["Subject"] == "Greeter is live"

    listed = owner.get("/v1/notifications").json()["items"]
    assert [n["type"] for n in listed] == ["agent.deployed"]
    with relay.connect(owner) as browser:
        cleared = owner.post("/v1/notifications/read-all")
        assert cleared.json() == {"marked": 1, "unread": 0}
        assert _events(browser, 1)[0]["data"] == {"unread": 0}
    assert owner.get("/v1/notifications/unread-count").json() == {"unread": 0}
    assert owner.get("/v1/notifications", params={"unread": True}).json()["items"] == []


def test_email_off_for_a_type_sends_no_email_but_still_notifies_in_app(owner, worker, settings):
    changed = owner.client.put("/v1/notifications/preferences", headers=owner.headers,
                               json={"preferences": {"agent.error": {"email": False}}})
    assert changed.status_code == 200
    assert changed.json()["preferences"]["agent.error"] == {"in_app": True, "email": False}
    assert changed.json()["preferences"]["billing.payment_failed"] == {"in_app": True, "email": True}
    agent = owner.post("/v1/agents", json={"name": "Broken", "model": "gpt-4o"}).json()
    assert owner.post(f"/v1/agents/{agent['id']}/errors", json={"message": "tool timed out"}).status_code == 201
    wait_for(lambda: owner.get("/v1/notifications/unread-count").json()["unread"] == 1, 30,
             what="the in-app notification")
    item = owner.get("/v1/notifications").json()["items"][0]
    assert (item["type"], item["body"]) == ("agent.error", "tool timed out")
    # A later email to the same person proves the queue ran past the point where this one would be.
    agent2 = owner.post("/v1/agents", json={"name": "Second", "model": "gpt-4o"}).json()
    owner.post(f"/v1/agents/{agent2['id']}/deploy")
    wait_for(lambda: _outbox(settings, owner.email), 30, what="the deploy email")
    assert [m["Subject"] for m in _outbox(settings, owner.email)] == ["Second is live"]


@pytest.mark.parametrize("body, status, code", [
    ({"preferences": {"agent.nope": {"email": False}}}, 422, "unknown_notification_type"),
    ({"preferences": {"agent.error": {"sms": True}}}, 422, "unknown_channel"),
    ({"preferences": {"agent.error": {"email": "yes"}}}, 400, "validation_failed"),
    ({"prefs": {}}, 400, "validation_failed"),
])
def test_preferences_refuse_unknown_types_and_channels(owner, body, status, code):
    response = owner.client.put("/v1/notifications/preferences", headers=owner.headers, json=body)
    assert response.status_code == status
    assert response.json()["error"]["code"] == code
    assert owner.get("/v1/notifications/preferences").json()["preferences"]["agent.error"]["email"] is True


def _deliver_directly(settings, account, count: int, type_: str = "system.update") -> None:
    """Deliver like the worker does, without email, straight through the domain."""
    async def run():
        db = Database(settings.database.app_url, pool_size=2)
        redis = aioredis.from_url(settings.redis.url, decode_responses=True)
        org, user = uuid.UUID(account.org_id), uuid.UUID(account.user_id)
        try:
            for i in range(count):
                async with db.transaction(org_id=org, user_id=user) as session:
                    await notifications.deliver(session, RedisPublisher(redis), batch_id=uuid.uuid4(), org_id=org,
                                                user_id=user, type_=type_, data={"headline": f"n{i}"})
        finally:
            await redis.aclose()
            await db.dispose()
    asyncio.run(run())


def test_pagination_under_concurrent_inserts_skips_and_repeats_nothing(owner, settings):
    _deliver_directly(settings, owner, 25)
    seen, cursor = [], None
    while True:
        page = owner.get("/v1/notifications", params={"limit": 7, **({"cursor": cursor} if cursor else {})}).json()
        seen += [n["id"] for n in page["items"]]
        cursor = page["next_cursor"]
        if not cursor:
            break
        # New notifications arrive between every two pages (an offset would now shift by 3).
        _deliver_directly(settings, owner, 3)
    assert len(seen) == len(set(seen)) == 25  # newer rows land before the cursor, never inside the walk
    everything = owner.get("/v1/notifications", params={"limit": 100}).json()["items"]
    assert len(everything) == 25 + 3 * 3 and set(seen) <= {n["id"] for n in everything}


def test_the_badge_counts_exactly(owner, settings):
    _deliver_directly(settings, owner, 40)
    assert owner.get("/v1/notifications/unread-count").json() == {"unread": 40}
    first = owner.get("/v1/notifications", params={"limit": 1}).json()["items"][0]
    assert owner.post(f"/v1/notifications/{first['id']}/read").json()["read_at"]
    owner.post(f"/v1/notifications/{first['id']}/read")  # twice: counted once
    assert owner.get("/v1/notifications/unread-count").json() == {"unread": 39}


def test_someone_elses_notification_is_404(client, settings, owner, other_owner):
    _deliver_directly(settings, other_owner, 1)
    theirs = other_owner.get("/v1/notifications").json()["items"][0]["id"]
    assert owner.post(f"/v1/notifications/{theirs}/read").status_code == 404
    colleague = add_member(client, settings, other_owner.org_id, "member")
    assert colleague.post(f"/v1/notifications/{theirs}/read").status_code == 404
    assert colleague.get("/v1/notifications").json()["items"] == []


def test_billing_notifications_reach_owners_and_admins_only(client, settings, owner, worker):
    admin = add_member(client, settings, owner.org_id, "admin")
    viewer = add_member(client, settings, owner.org_id, "viewer")

    async def trigger(sender):
        db = Database(settings.database.app_url, pool_size=1, jobs=sender)
        try:
            async with db.transaction(org_id=uuid.UUID(owner.org_id)) as session:
                notifications.notify(session, uuid.UUID(owner.org_id), "billing.payment_failed",
                                     {"reason": "card declined"})
        finally:
            await db.dispose()
    _with_sender(settings, trigger)
    for person in (owner, admin):
        wait_for(lambda: person.get("/v1/notifications/unread-count").json()["unread"] == 1, 30,
                 what="the billing notification")
    assert viewer.get("/v1/notifications/unread-count").json() == {"unread": 0}


def test_a_broadcast_reaches_every_member_of_the_chosen_organizations_once(client, settings, owner, other_owner,
                                                                            worker):
    member = add_member(client, settings, owner.org_id, "viewer")
    outsider = add_member(client, settings, str(_third_org(client)), "owner")

    async def trigger(sender):
        db = Database(settings.database.app_url, pool_size=1, jobs=sender)
        try:
            async with db.transaction(system=True) as session:
                notifications.broadcast(session, "system.maintenance",
                                        {"window": "Sunday 02:00–03:00 UTC", "message": "Brief downtime."},
                                        org_ids=[uuid.UUID(owner.org_id), uuid.UUID(other_owner.org_id)])
        finally:
            await db.dispose()
    _with_sender(settings, trigger)
    for person in (owner, member, other_owner):
        wait_for(lambda: person.get("/v1/notifications/unread-count").json()["unread"] == 1, 30,
                 what="the broadcast")
    assert owner.get("/v1/notifications").json()["items"][0]["title"] == "Scheduled maintenance Sunday 02:00–03:00 UTC"
    assert outsider.get("/v1/notifications/unread-count").json() == {"unread": 0}


def test_broadcasting_a_non_system_type_is_refused(settings):
    async def trigger(sender):
        db = Database(settings.database.app_url, pool_size=1, jobs=sender)
        try:
            async with db.transaction(system=True) as session:
                notifications.broadcast(session, "billing.payment_failed", {})
        finally:
            await db.dispose()
    with pytest.raises(Exception, match="only system notifications"):
        asyncio.run(trigger(None))


def _third_org(client):
    from tests.fixtures.app import sign_up
    return sign_up(client).org_id


def _with_sender(settings, trigger):
    broker = build_broker(settings)
    try:
        asyncio.run(trigger(BrokerSender(broker)))
    finally:
        broker.close()


class _Recorder:
    """A job sender that keeps what it was given (the delivery jobs and emails a fan-out queues)."""

    def __init__(self):
        self.jobs = []

    def send(self, job) -> None:
        self.jobs.append(job)


@asynccontextmanager
async def _domain(settings, jobs=None):
    """The database and publisher a worker process has, for running an actor's domain call in this process."""
    db = Database(settings.database.app_url, pool_size=1, jobs=jobs)
    redis = aioredis.from_url(settings.redis.url, decode_responses=True)
    try:
        yield db, RedisPublisher(redis)
    finally:
        await redis.aclose()
        await db.dispose()


def _fan_out(settings, org_id: str, type_: str, batch_id: uuid.UUID, recipients=None) -> list:
    """Run the fan-out as its worker does, in this process; the jobs it queued after commit."""
    async def run():
        sender = _Recorder()
        org = uuid.UUID(org_id)
        read = notifications.audience_read(org, type_, recipients)
        async with _domain(settings, sender) as (db, publisher):
            async with db.transaction(org_id=org, first_reads=(read,) if read else ()) as session:
                await notifications.fan_out(session, publisher, batch_id, org, type_,
                                            {"reason": "card declined"}, recipients)
        return sender.jobs
    return asyncio.run(run())


def _deliver(settings, batch_id: str, org_id: str, user_id: str, type_: str, data: dict):
    """Run one `notifications.deliver` message as its actor does, in this process; what `deliver` returned."""
    async def run():
        org, user = uuid.UUID(org_id), uuid.UUID(user_id)
        async with _domain(settings, _Recorder()) as (db, publisher):
            async with db.transaction(org_id=org, user_id=user) as session:
                return await notifications.deliver(session, publisher, batch_id=uuid.UUID(batch_id), org_id=org,
                                                   user_id=user, type_=type_, data=data)
    return asyncio.run(run())


def test_a_small_audience_is_delivered_in_the_fan_out_each_as_their_preferences_say(client, settings, owner):
    """Decision 127: no message per person for a few people; each person's own choices and rows still apply,
    and a redelivered fan-out saves, counts and emails nothing twice."""
    admin = add_member(client, settings, owner.org_id, "admin")
    viewer = add_member(client, settings, owner.org_id, "viewer")
    assert admin.client.put("/v1/notifications/preferences", headers=admin.headers, json={
        "preferences": {"billing.payment_failed": {"in_app": False}}}).status_code == 200
    batch = uuid.uuid4()
    for _ in range(2):  # the second run is a redelivery of the same message
        queued = _fan_out(settings, owner.org_id, "billing.payment_failed", batch)
        assert [job.actor for job in queued] == ["email.send", "email.send"]  # owner and admin; no deliveries
        assert sorted(job.args[1] for job in queued) == sorted([owner.email, admin.email])
    assert owner.get("/v1/notifications/unread-count").json() == {"unread": 1}
    assert [n["type"] for n in owner.get("/v1/notifications").json()["items"]] == ["billing.payment_failed"]
    assert admin.get("/v1/notifications/unread-count").json() == {"unread": 0}  # in-app off: email only
    assert viewer.get("/v1/notifications/unread-count").json() == {"unread": 0}  # not in the audience


def test_a_bigger_audience_gets_a_message_per_person(client, settings, owner, monkeypatch):
    admin = add_member(client, settings, owner.org_id, "admin")
    monkeypatch.setattr(notifications, "INLINE_AUDIENCE", 1)
    queued = _fan_out(settings, owner.org_id, "billing.payment_failed", uuid.uuid4())
    assert sorted((job.actor, job.args[2]) for job in queued) == sorted(
        [("notifications.deliver", owner.user_id), ("notifications.deliver", admin.user_id)])
    assert owner.get("/v1/notifications/unread-count").json() == {"unread": 0}  # not delivered inline

    for job in queued:  # each message as the `notifications.deliver` actor runs it
        _deliver(settings, *job.args)
    for person in (owner, admin):
        assert person.get("/v1/notifications/unread-count").json() == {"unread": 1}


def test_a_person_removed_before_their_delivery_gets_nothing(client, settings, owner, rows):
    """A delivery message for someone no longer a member is done, not an error retried ten times."""
    gone = add_member(client, settings, owner.org_id, "admin")
    assert rows("delete from memberships where user_id = :u returning user_id", u=gone.user_id)
    assert _deliver(settings, str(uuid.uuid4()), owner.org_id, gone.user_id, "billing.payment_failed", {}) is None
