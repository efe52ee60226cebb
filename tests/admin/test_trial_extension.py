"""An admin extends a customer's trial: a billing command the worker carries to Stripe (the stand-in)."""

from __future__ import annotations

import uuid
from datetime import datetime, timedelta, timezone

from sqlalchemy import create_engine, text

from domain.db import sqlalchemy_url

from tests.admin.helpers import signed_in_admin
from tests.fixtures.worker import wait_for


def _start_trial(account):
    response = account.post("/v1/billing/subscription", json={"plan": "starter", "payment_method": "pm_card_visa",
                                                               "trial": True})
    assert response.status_code == 202, response.text
    command_id = response.json()["command_id"]
    return wait_for(lambda: (c := account.get(f"/v1/commands/{command_id}").json())["status"] in (
        "succeeded", "failed") and c, what="the subscribe command")


def _finished(admin, location: str) -> dict:
    return wait_for(lambda: (c := admin.get(location).json())["status"] in ("succeeded", "failed") and c,
                    what="the trial extension")


def test_billing_extends_a_trial_through_a_command_stripe_included(client, settings, owner, worker, stand_in):
    billing = signed_in_admin(client, settings, role="billing")
    path = f"/admin/v1/customers/{owner.org_id}/trial-extensions"
    refused = billing.post(path, json={"days": 7})
    assert (refused.status_code, refused.json()["error"]["code"]) == (409, "no_trial")  # not subscribed yet
    support = signed_in_admin(client, settings, role="support")
    assert support.post(path, json={"days": 7}).json()["error"]["code"] == "forbidden"

    assert _start_trial(owner)["status"] == "succeeded"
    before = datetime.fromisoformat(owner.get("/v1/billing/subscription").json()["trial_end"])
    key = {"Idempotency-Key": f"extend-{uuid.uuid4()}"}
    accepted = billing.post(path, json={"days": 7}, headers=key)
    assert accepted.status_code == 202, accepted.text
    assert accepted.headers["location"] == f"/admin/v1/commands/{accepted.json()['command_id']}"
    command = _finished(billing, accepted.headers["location"])
    assert command["status"] == "succeeded" and command["kind"] == "billing.extend_trial", command
    after = datetime.fromisoformat(owner.get("/v1/billing/subscription").json()["trial_end"])
    assert abs((after - before) - timedelta(days=7)) < timedelta(seconds=2)
    [customer] = stand_in.customers_of(owner.org_id)
    [at_stripe] = [s for s in stand_in.subscriptions_of(customer["id"]) if s["id"] == command["result"]["subscription_id"]]
    assert at_stripe["trial_end"] == int(after.timestamp())
    assert owner.get("/v1/billing/subscription").json()["status"] == "trialing"

    # A retry after it finished (a lost answer, a double click) answers the same command, extends nothing;
    # the key used for another request is refused; another admin's identical key is their own.
    again = billing.post(path, json={"days": 7}, headers=key)
    assert (again.status_code, again.json()["command_id"]) == (202, accepted.json()["command_id"])
    assert datetime.fromisoformat(owner.get("/v1/billing/subscription").json()["trial_end"]) == after
    reused = billing.post(path, json={"days": 2}, headers=key)
    assert (reused.status_code, reused.json()["error"]["code"]) == (409, "idempotency_key_reused")
    other = signed_in_admin(client, settings, role="billing").post(path, json={"days": 1}, headers=key)
    assert other.status_code == 202 and other.json()["command_id"] != accepted.json()["command_id"], other.text
    assert _finished(billing, other.headers["location"])["status"] == "succeeded"

    too_long = billing.post(path, json={"days": 90})
    assert (too_long.status_code, too_long.json()["error"]["code"]) == (422, "trial_too_long")
    admin = signed_in_admin(client, settings)
    rows = admin.get("/admin/v1/audit-logs", params={"admin_id": billing.id, "action": "customers.extend_trial"}
                     ).json()["items"]
    assert sorted((r["outcome"], r["status_code"]) for r in rows) == [
        ("failed", 409), ("failed", 409), ("failed", 422), ("success", 202), ("success", 202)]


def test_a_second_extension_while_one_is_under_way_is_refused(client, settings, owner):
    """A double click must not add the days twice: an extension queued or running refuses the next."""
    from tests.admin.test_dashboard import _subscribe

    _subscribe(settings, owner.org_id, "starter", "trialing", 10, trial_end=datetime.now(timezone.utc) + timedelta(days=5))
    engine = create_engine(sqlalchemy_url(settings.database.url))
    with engine.begin() as connection:  # an extension a worker is running now
        connection.execute(text("""insert into commands (id, org_id, kind, status, queue, actor)
                                   values (:i, :o, 'billing.extend_trial', 'running', 'billing', 'billing.extend_trial')"""),
                           {"i": uuid.uuid4(), "o": owner.org_id})
    engine.dispose()
    billing = signed_in_admin(client, settings, role="billing")
    second = billing.post(f"/admin/v1/customers/{owner.org_id}/trial-extensions", json={"days": 3})
    assert (second.status_code, second.json()["error"]["code"]) == (409, "trial_extension_pending")
