"""The monthly message quota: owners and admins told once at 80 % and once at 100 %, in-app and by email."""

from __future__ import annotations

import time

import pytest
from sqlalchemy import create_engine, text

from domain.db import sqlalchemy_url
from tests.fixtures.app import add_member, client_with, sign_up
from tests.fixtures.mail import outbox
from tests.fixtures.worker import wait_for

QUOTA = 5  # 80 %: the 4th message


@pytest.fixture(scope="module")
def small_client(settings):
    with client_with(settings, free_plan_messages=QUOTA) as test_client:
        yield test_client


def _subjects(settings, recipient: str) -> list[str]:
    return [str(message["Subject"]) for message in outbox(settings, recipient)]


def _quota_notices(account) -> list[str]:
    return [n["type"] for n in account.get("/v1/notifications").json()["items"]
            if n["type"].startswith("billing.quota_")]


def _conversation(account) -> str:
    agent = account.post("/v1/agents", json={"name": "bot", "model": "gpt-4o"}).json()
    conversation = account.post(f"/v1/agents/{agent['id']}/conversations", json={}).json()
    return f"/v1/agents/{agent['id']}/conversations/{conversation['id']}/messages"


def test_the_warning_and_the_reached_notice_are_sent_once_each(small_client, settings, worker):
    owner = sign_up(small_client)
    admin = add_member(small_client, settings, owner.org_id, "admin")
    member = add_member(small_client, settings, owner.org_id, "member")
    messages = _conversation(owner)
    for n in range(3):
        assert owner.post(messages, json={"content": f"m{n}"}).status_code == 201
    time.sleep(1)
    assert _quota_notices(owner) == []

    assert owner.post(messages, json={"content": "the fourth: 80 %"}).status_code == 201
    for person in (owner, admin):
        assert wait_for(lambda: _quota_notices(person), what="the quota warning") == ["billing.quota_warning"]
    notice = owner.get("/v1/notifications").json()["items"][0]
    assert notice["title"] == "80% of this month's messages used"
    assert "4 of the 5 messages your Free plan includes" in notice["body"] and "Starter" in notice["body"]

    for n in range(3):  # the fifth reaches the quota; past it, messages still work and nothing more is sent
        assert owner.post(messages, json={"content": f"over {n}"}).status_code == 201
    for person in (owner, admin):
        wait_for(lambda: len(_quota_notices(person)) == 2, what="the quota reached notice")
    time.sleep(1)
    assert _quota_notices(owner) == ["billing.quota_reached", "billing.quota_warning"]
    assert _quota_notices(admin) == ["billing.quota_reached", "billing.quota_warning"]
    assert _quota_notices(member) == []  # owners and admins only
    assert owner.get("/v1/billing/usage").json()["messages"] == {"used": 7, "limit": QUOTA}
    subjects = wait_for(lambda: [s for s in _subjects(settings, admin.email)
                                 if "quota" in s or "messages used" in s] or None, what="the quota emails")
    wait_for(lambda: len([s for s in _subjects(settings, admin.email)
                          if "quota" in s or "messages used" in s]) == 2, what="both quota emails")
    assert any("80% of this month's messages used" in s for s in subjects)


def test_each_organization_has_its_own_count(small_client, worker):
    busy, quiet = sign_up(small_client), sign_up(small_client)
    busy_messages, quiet_messages = _conversation(busy), _conversation(quiet)
    for n in range(QUOTA):
        assert busy.post(busy_messages, json={"content": f"m{n}"}).status_code == 201
    assert quiet.post(quiet_messages, json={"content": "hello"}).status_code == 201
    wait_for(lambda: "billing.quota_reached" in _quota_notices(busy), what="the busy organization's notice")
    time.sleep(1)
    assert _quota_notices(quiet) == []


def test_the_months_counter_starts_from_the_messages_already_there(small_client, worker, settings):
    owner = sign_up(small_client)
    messages = _conversation(owner)
    for n in range(3):
        assert owner.post(messages, json={"content": f"m{n}"}).status_code == 201
    # As if these three predated the counter (the release that added it): no row for the month.
    engine = create_engine(sqlalchemy_url(settings.database.url))
    with engine.begin() as connection:
        connection.execute(text("select set_config('app.scope', 'system', true)"))
        assert connection.execute(text("delete from message_usage where org_id = :o"), {"o": owner.org_id}).rowcount
    engine.dispose()
    assert owner.post(messages, json={"content": "the fourth"}).status_code == 201
    assert wait_for(lambda: _quota_notices(owner), what="the warning") == ["billing.quota_warning"]
