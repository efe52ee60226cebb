"""Billing end to end: edge → billing worker → the Stripe stand-in (HTTP) → signed webhooks → edge → worker."""

from __future__ import annotations

import json
import time
import uuid
from concurrent.futures import ThreadPoolExecutor
from datetime import datetime, timezone
from pathlib import Path

import httpx
import pytest
from sqlalchemy import create_engine, text

from domain.db import sqlalchemy_url
from domain.jobs import Job
from objecta.broker import BrokerSender, build_broker
from tests.fixtures.stripe import event, sign
from tests.fixtures.worker import wait_for


def _subscribe(account, plan="starter", card="pm_card_visa"):
    response = account.post("/v1/billing/subscription", json={"plan": plan, "payment_method": card})
    assert response.status_code == 202, response.text
    return response.json()["command_id"]


def _finished(account, command_id, timeout=30):
    def done():
        body = account.get(f"/v1/commands/{command_id}").json()
        return body if body["status"] in ("succeeded", "failed") else None
    return wait_for(done, timeout, what=f"command {command_id} to finish")


def _outbox(test_env, key) -> list[Path]:
    return sorted((Path(test_env["OBJECTA_HOME"]) / "outbox").glob(f"*-{key.replace(':', '_')}-*.eml"))


def test_subscribing_with_a_good_card_activates_the_plan_and_confirms_by_email(
        owner, worker, webhook_edge, stand_in, rows, test_env, settings):
    command = _finished(owner, _subscribe(owner))
    assert command["status"] == "succeeded", command
    assert command["result"]["plan"] == "starter" and command["result"]["status"] == "active"

    subscription = owner.get("/v1/billing/subscription").json()
    assert (subscription["plan"], subscription["status"], subscription["seats"]) == ("starter", "active", 10)

    # The invoice arrives only through the stand-in's signed webhook, handled by the worker.
    paid = wait_for(lambda: [i for i in owner.get("/v1/billing/invoices").json()["items"] if i["status"] == "paid"],
                    what="the paid invoice from the webhook")
    assert (paid[0]["amount_paid"], paid[0]["currency"]) == (2900, "usd")
    [email] = wait_for(lambda: _outbox(test_env, f"billing_confirmation:{owner.org_id}"), what="confirmation email")
    body = email.read_text()
    assert owner.email in body and "Starter" in body

    [customer] = stand_in.customers_of(owner.org_id)
    assert rows("select stripe_customer_id from billing_customers where org_id = :o", o=owner.org_id) == [
        {"stripe_customer_id": customer["id"]}]
    actions = [e["action"] for e in owner.get("/v1/team/activity").json()["items"]]
    assert "billing.subscribed" in actions and "billing.invoice_paid" in actions
    # The plan's seats now bound the team: more invitations than the free plan's seats go through.
    for n in range(settings.team.free_plan_seats + 1):
        invited = owner.post("/v1/team/invitations", json={"email": f"seat{n}-{uuid.uuid4().hex[:6]}@example.com",
                                                           "role": "member"})
        assert invited.status_code == 202, invited.text
    # Subscribing again is refused at once: change the plan instead.
    again = owner.post("/v1/billing/subscription", json={"plan": "pro", "payment_method": "pm_card_visa"})
    assert again.status_code == 409 and again.json()["error"]["code"] == "already_subscribed"


@pytest.mark.parametrize("card", ["pm_card_visa_chargeDeclined", "pm_card_chargeCustomerFail"])
def test_a_declined_card_fails_readably_and_leaves_no_active_subscription(owner, worker, webhook_edge, stand_in, card):
    command = _finished(owner, _subscribe(owner, card=card))
    assert command["status"] == "failed" and command["attempts"] == 1, command
    assert "declined" in command["error"].lower()

    notification = wait_for(lambda: [n for n in owner.get("/v1/notifications").json()["items"]
                                     if n["type"] == "billing.payment_failed"], what="payment_failed notification")
    assert "declined" in notification[0]["body"].lower()
    time.sleep(2)  # the stand-in's webhooks (sent after 1 s) have had their chance to change anything
    subscription = owner.get("/v1/billing/subscription").json()
    assert subscription["plan"] == "free" and subscription["status"] != "active"
    [customer] = stand_in.customers_of(owner.org_id)
    assert all(s["status"] != "active" for s in stand_in.subscriptions_of(customer["id"]))


def test_two_subscribes_at_once_make_one_subscription(owner, worker, webhook_edge, stand_in):
    """Both are accepted (nothing is subscribed yet); the worker runs them side by side: one subscribes."""
    commands = {plan: _subscribe(owner, plan=plan) for plan in ("starter", "pro")}
    status = {plan: _finished(owner, command)["status"] for plan, command in commands.items()}
    [customer] = stand_in.customers_of(owner.org_id)
    live = [s for s in stand_in.subscriptions_of(customer["id"]) if s["status"] == "active"]
    assert len(live) == 1, live
    [winner] = [plan for plan, outcome in status.items() if outcome == "succeeded"]
    assert sorted(status.values()) == ["failed", "succeeded"], status
    assert owner.get("/v1/billing/subscription").json()["plan"] == winner


def test_a_retry_after_the_customer_was_saved_reuses_it(owner, worker, webhook_edge, stand_in):
    """A subscribe that failed after the customer was recorded, then another: one customer at Stripe."""
    assert _finished(owner, _subscribe(owner, card="pm_card_visa_chargeDeclined"))["status"] == "failed"
    assert _finished(owner, _subscribe(owner))["status"] == "succeeded"
    assert len(stand_in.customers_of(owner.org_id)) == 1


def _post_event(base: str, payload: bytes, secret: str, **headers) -> httpx.Response:
    return httpx.post(f"{base}/v1/webhooks/stripe", content=payload, timeout=10,
                      headers={"Stripe-Signature": sign(payload, secret), "Content-Type": "application/json",
                               **headers})


def test_the_same_event_twenty_times_at_once_is_stored_queued_and_handled_once(
        owner, worker, webhook_edge, settings, rows):
    assert _finished(owner, _subscribe(owner))["status"] == "succeeded"
    subscription_id = owner.get("/v1/billing/subscription").json()["stripe_subscription_id"]
    payload = event("customer.subscription.updated", {"id": subscription_id, "object": "subscription"})
    event_id = json.loads(payload)["id"]
    with ThreadPoolExecutor(20) as pool:
        answers = list(pool.map(lambda _: _post_event(webhook_edge, payload, settings.billing.webhook_secret),
                                range(20)))
    assert [a.status_code for a in answers] == [200] * 20
    assert sorted(a.json()["duplicate"] for a in answers) == [False] + [True] * 19  # one job queued
    handled = wait_for(lambda: rows("select handled_at from stripe_events where id = :i and handled_at is not null",
                                    i=event_id), what="the event handled")
    assert len(handled) == 1
    time.sleep(1)
    assert worker.log_path.read_text().count(f"stripe event {event_id}:") == 1  # one effect


def test_updated_before_created_ends_in_stripes_current_state(owner, client, worker, webhook_edge, stand_in,
                                                               settings):
    assert _finished(owner, _subscribe(owner))["status"] == "succeeded"
    subscription_id = owner.get("/v1/billing/subscription").json()["stripe_subscription_id"]
    stand_in.update_subscription(subscription_id, cancel_at_period_end="true")
    secret = settings.billing.webhook_secret
    newer = event("customer.subscription.updated", {"id": subscription_id, "cancel_at_period_end": True})
    older = event("customer.subscription.created", {"id": subscription_id, "status": "incomplete"})
    for payload in (newer, older):  # delivered out of order
        answer = client.post("/v1/webhooks/stripe", content=payload, headers={"Stripe-Signature": sign(payload, secret)})
        assert answer.status_code == 200, answer.text

    def settled():
        body = owner.get("/v1/billing/subscription").json()
        return body if body["cancel_at_period_end"] else None
    subscription = wait_for(settled, what="the update to be applied")
    time.sleep(1.5)  # the older event is handled too, and must not undo it
    subscription = owner.get("/v1/billing/subscription").json()
    assert (subscription["status"], subscription["cancel_at_period_end"]) == ("active", True)


def test_the_sweeper_requeues_a_stored_event_nobody_handled(owner, worker, webhook_edge, stand_in, settings, rows):
    """An event stored whose job was lost (the broker was down after the commit) is handled by the sweeper."""
    assert _finished(owner, _subscribe(owner))["status"] == "succeeded"
    subscription_id = owner.get("/v1/billing/subscription").json()["stripe_subscription_id"]
    stand_in.update_subscription(subscription_id, cancel_at_period_end="true")
    payload = json.loads(event("customer.subscription.updated", {"id": subscription_id}))
    engine = create_engine(sqlalchemy_url(settings.database.url))  # the owner: as if the edge stored it, minus the job
    with engine.begin() as connection:
        connection.execute(text("insert into stripe_events (id, type, payload, received_at) "
                                "values (:i, :t, cast(:p as jsonb), now() - interval '1 hour')"),
                           {"i": payload["id"], "t": payload["type"], "p": json.dumps(payload)})
    engine.dispose()
    broker = build_broker(settings)
    BrokerSender(broker).send(Job("maintenance", "billing.sweep_events", (datetime.now(timezone.utc).isoformat(),)))
    broker.close()
    wait_for(lambda: rows("select 1 from stripe_events where id = :i and handled_at is not null", i=payload["id"]),
             what="the swept event to be handled")
    assert owner.get("/v1/billing/subscription").json()["cancel_at_period_end"] is True


def test_cancel_at_period_end_then_take_it_back(owner, worker, webhook_edge, stand_in):
    assert owner.delete("/v1/billing/subscription").status_code == 404  # nothing to cancel yet
    assert _finished(owner, _subscribe(owner))["status"] == "succeeded"
    subscription_id = owner.get("/v1/billing/subscription").json()["stripe_subscription_id"]

    response = owner.delete("/v1/billing/subscription")
    assert response.status_code == 202, response.text
    command = _finished(owner, response.json()["command_id"])
    assert command["status"] == "succeeded" and command["result"]["cancel_at_period_end"] is True, command
    body = owner.get("/v1/billing/subscription").json()
    # Paid until the period ends: the plan and its limits stay.
    assert (body["plan"], body["status"], body["cancel_at_period_end"]) == ("starter", "active", True)
    assert stand_in.get(f"/v1/subscriptions/{subscription_id}")["cancel_at_period_end"] is True

    response = owner.post("/v1/billing/subscription/resume")
    assert response.status_code == 202
    assert _finished(owner, response.json()["command_id"])["status"] == "succeeded"
    assert owner.get("/v1/billing/subscription").json()["cancel_at_period_end"] is False
    assert stand_in.get(f"/v1/subscriptions/{subscription_id}")["cancel_at_period_end"] is False


def test_upgrading_moves_the_plan_now(owner, worker, webhook_edge, stand_in):
    assert owner.patch("/v1/billing/subscription", json={"plan": "pro"}).status_code == 404  # not subscribed
    assert _finished(owner, _subscribe(owner))["status"] == "succeeded"
    subscription_id = owner.get("/v1/billing/subscription").json()["stripe_subscription_id"]

    response = owner.patch("/v1/billing/subscription", json={"plan": "pro"})
    assert response.status_code == 202, response.text
    command = _finished(owner, response.json()["command_id"])
    assert command["status"] == "succeeded" and command["result"]["plan"] == "pro", command
    body = owner.get("/v1/billing/subscription").json()
    assert (body["plan"], body["status"], body["seats"], body["stripe_subscription_id"]) == (
        "pro", "active", 25, subscription_id)
    [item] = stand_in.get(f"/v1/subscriptions/{subscription_id}")["items"]["data"]
    assert item["plan"]["id"] == "objecta_pro_seats_monthly"

    same = owner.patch("/v1/billing/subscription", json={"plan": "pro"})
    assert same.status_code == 409 and same.json()["error"]["code"] == "plan_unchanged"


def _change(account, plan):
    response = account.patch("/v1/billing/subscription", json={"plan": plan})
    assert response.status_code == 202, response.text
    command = _finished(account, response.json()["command_id"])
    assert command["status"] == "succeeded", command
    return command["result"]


def test_a_downgrade_waits_for_the_end_of_the_period(owner, worker, webhook_edge, stand_in, rows, settings):
    assert _finished(owner, _subscribe(owner, plan="pro"))["status"] == "succeeded"
    subscription_id = owner.get("/v1/billing/subscription").json()["stripe_subscription_id"]

    result = _change(owner, "starter")
    assert (result["plan"], result["pending_plan"]) == ("pro", "starter") and result["effective_at"]
    body = owner.get("/v1/billing/subscription").json()
    # Paid for pro until the period ends: pro's limits stay, the downgrade is shown as pending.
    assert (body["plan"], body["seats"], body["pending_plan"]) == ("pro", 25, "starter")
    assert stand_in.get(f"/v1/subscriptions/{subscription_id}")["items"]["data"][0]["plan"]["id"] == (
        "objecta_pro_seats_monthly")
    # The current plan again takes it back; then downgrade again.
    assert _change(owner, "pro")["pending_plan"] is None
    assert owner.get("/v1/billing/subscription").json()["pending_plan"] is None
    assert _change(owner, "starter")["pending_plan"] == "starter"

    # The period nears its end (the stand-in's clock cannot be moved: ours is, in the row) and the job runs:
    # within the last hour it moves the plan, so that Stripe's renewal is already at the cheaper price.
    rows("update subscriptions set current_period_end = now() + interval '30 minutes' "
         "where stripe_subscription_id = :s returning id", s=subscription_id)
    broker = build_broker(settings)
    BrokerSender(broker).send(Job("maintenance", "billing.apply_downgrades", (datetime.now(timezone.utc).isoformat(),)))
    broker.close()
    body = wait_for(lambda: (b := owner.get("/v1/billing/subscription").json())["plan"] == "starter" and b,
                    what="the downgrade to be applied")
    assert (body["seats"], body["pending_plan"], body["stripe_subscription_id"]) == (10, None, subscription_id)
    assert stand_in.get(f"/v1/subscriptions/{subscription_id}")["items"]["data"][0]["plan"]["id"] == (
        "objecta_starter_seats_monthly")
    [logged] = rows("select details from activity_logs where org_id = :o and details->>'previous_plan' = 'pro'",
                    o=owner.org_id)
    assert logged["details"]["plan"] == "starter"


def test_an_event_about_an_object_stripe_does_not_know_is_closed_with_the_reason(client, worker, settings, rows):
    payload = event("customer.subscription.updated", {"id": "sub_unknown_to_stripe"})
    answer = client.post("/v1/webhooks/stripe", content=payload,
                         headers={"Stripe-Signature": sign(payload, settings.billing.webhook_secret)})
    assert answer.status_code == 200
    [row] = wait_for(lambda: rows("select error from stripe_events where id = :i and handled_at is not null",
                                  i=json.loads(payload)["id"]), what="the event to be closed")
    assert "404" in row["error"]  # not retried for ever: handled, with Stripe's answer kept


def test_handled_events_older_than_the_retention_are_pruned_and_unhandled_ones_stay(worker, settings, rows):
    prefix = f"evt_prune_{uuid.uuid4().hex[:8]}"
    for name, age_days, handled in (("old", settings.billing.event_retention_days + 1, True),
                                    ("stuck", settings.billing.event_retention_days + 1, False),
                                    ("recent", 1, True)):
        rows("insert into stripe_events (id, type, payload, received_at, handled_at) values "
             "(:i, 'invoice.paid', '{}', now() - make_interval(days => :d), "
             "case when :h then now() - make_interval(days => :d) end) returning id",
             i=f"{prefix}_{name}", d=age_days, h=handled)
    broker = build_broker(settings)
    BrokerSender(broker).send(Job("maintenance", "billing.prune_events", (datetime.now(timezone.utc).isoformat(),)))
    broker.close()
    remaining = lambda: sorted(r["id"] for r in rows("select id from stripe_events where id like :p", p=prefix + "%"))  # noqa: E731
    wait_for(lambda: len(remaining()) == 2, what="the old handled event to be pruned")
    assert remaining() == [f"{prefix}_recent", f"{prefix}_stuck"]


@pytest.mark.parametrize("data", [[1], {"object": {"status": "active"}}, {"object": "sub_123"}, None],
                         ids=["data-is-a-list", "object-without-id", "object-is-a-string", "no-data"])
def test_a_signed_but_malformed_event_is_closed_with_its_reason_not_retried(client, worker, settings, rows, data):
    event_id = f"evt_test_{uuid.uuid4().hex}"
    payload = json.dumps({"id": event_id, "object": "event", "type": "customer.subscription.updated",
                          "created": int(time.time()), "data": data}).encode()
    answer = client.post("/v1/webhooks/stripe", content=payload,
                         headers={"Stripe-Signature": sign(payload, settings.billing.webhook_secret)})
    assert answer.status_code == 200, answer.text
    [closed] = wait_for(lambda: rows("select attempts, error from stripe_events where id = :i "
                                     "and handled_at is not null", i=event_id), what="the event closed")
    assert closed["attempts"] == 0 and "malformed event" in closed["error"]


def test_an_event_out_of_attempts_is_not_tried_again(client, worker, settings, rows):
    """The bound holds for messages already in flight when the sweeper stops re-queueing the event."""
    from domain.billing.webhooks import MAX_ATTEMPTS
    payload = json.loads(event("customer.subscription.updated", {"id": "sub_missing"}))
    engine = create_engine(sqlalchemy_url(settings.database.url))
    with engine.begin() as connection:
        connection.execute(text("insert into stripe_events (id, type, payload, attempts, error) "
                                "values (:i, :t, cast(:p as jsonb), :n, 'stripe unreachable')"),
                           {"i": payload["id"], "t": payload["type"], "p": json.dumps(payload), "n": MAX_ATTEMPTS})
    engine.dispose()
    broker = build_broker(settings)
    BrokerSender(broker).send(Job("billing", "billing.handle_event", (payload["id"],)))
    broker.close()
    wait_for(lambda: f"stripe event {payload['id']}: not handled: gave up" in worker.log_path.read_text(),
             what="the worker to skip the event")
    assert rows("select attempts, handled_at from stripe_events where id = :i", i=payload["id"]) == [
        {"attempts": MAX_ATTEMPTS, "handled_at": None}]
