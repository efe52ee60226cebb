"""Trials: a first subscription may start with the plan's free trial (card kept, nothing charged), and
three days before it ends the owners and admins are reminded in-app and by email, once.

The stand-in never sends `customer.subscription.trial_will_end` and its clock cannot move: the trial's end is
moved at the stand-in (it accepts `trial_end` on an update), then Stripe's event is posted signed, as Stripe
would send it; the daily job's path is shown with our row alone.
"""

from __future__ import annotations

import time
from datetime import datetime, timezone


from domain.jobs import Job
from objecta.broker import BrokerSender, build_broker
from tests.fixtures.stripe import event, sign
from tests.fixtures.mail import outbox
from tests.fixtures.worker import wait_for


def _start_trial(account, plan="starter"):
    response = account.post("/v1/billing/subscription", json={"plan": plan, "payment_method": "pm_card_visa",
                                                               "trial": True})
    assert response.status_code == 202, response.text
    command_id = response.json()["command_id"]
    return wait_for(lambda: (c := account.get(f"/v1/commands/{command_id}").json())["status"] in (
        "succeeded", "failed") and c, what="the subscribe command")


def _reminders(account) -> list[dict]:
    return [n for n in account.get("/v1/notifications").json()["items"] if n["type"] == "billing.trial_ending"]


def _post(client, settings, payload: bytes):
    answer = client.post("/v1/webhooks/stripe", content=payload,
                         headers={"Stripe-Signature": sign(payload, settings.billing.webhook_secret)})
    assert answer.status_code == 200, answer.text


def test_a_trial_keeps_the_card_charges_nothing_and_gives_the_plan(owner, worker, webhook_edge, stand_in):
    assert next(p for p in owner.get("/v1/billing/plans").json()["items"] if p["name"] == "starter")[
        "trial_days"] == 14
    command = _start_trial(owner)
    assert command["status"] == "succeeded", command
    assert command["result"]["status"] == "trialing"
    body = owner.get("/v1/billing/subscription").json()
    assert (body["plan"], body["status"], body["seats"]) == ("starter", "trialing", 10)
    trial_end = datetime.fromisoformat(body["trial_end"])
    assert 13.9 < (trial_end - datetime.now(timezone.utc)).total_seconds() / 86400 <= 14
    [customer] = stand_in.customers_of(owner.org_id)
    assert customer["invoice_settings"]["default_payment_method"]  # the card is kept for the first charge
    time.sleep(2)  # the stand-in's webhooks come 1 s after a change: none may bring an invoice
    assert owner.get("/v1/billing/invoices").json()["items"] == []
    assert stand_in.get(f"/v1/invoices?customer={customer['id']}")["data"] == []

    # One trial per organization, ever: once it has ended (Stripe ends it, and says so by webhook),
    # another is refused; subscribing without one is not.
    assert stand_in.http.delete(f"/v1/subscriptions/{body['stripe_subscription_id']}").status_code == 200
    wait_for(lambda: owner.get("/v1/billing/subscription").json()["status"] == "canceled",
             what="Stripe's subscription.deleted to be handled")
    again = owner.post("/v1/billing/subscription", json={"plan": "pro", "payment_method": "pm_card_visa",
                                                         "trial": True})
    assert (again.status_code, again.json()["error"]["code"]) == (409, "trial_already_used")


def test_trial_will_end_reminds_owners_and_admins_once_in_app_and_by_email(
        owner, client, worker, webhook_edge, stand_in, settings):
    assert _start_trial(owner)["status"] == "succeeded"
    subscription_id = owner.get("/v1/billing/subscription").json()["stripe_subscription_id"]
    assert _reminders(owner) == []

    # Three days before the end, Stripe sends trial_will_end; posted twice, and once more as another event.
    stand_in.update_subscription(subscription_id, trial_end=int(time.time()) + 3 * 86400 - 60)
    payload = event("customer.subscription.trial_will_end", {"id": subscription_id})
    for body in (payload, payload, event("customer.subscription.trial_will_end", {"id": subscription_id})):
        _post(client, settings, body)
    [reminder] = wait_for(lambda: _reminders(owner), what="the trial reminder")
    assert reminder["title"] == "Your Starter trial ends in 3 days"
    assert "29.00 USD" in reminder["body"]
    wait_for(lambda: outbox(settings, owner.email, "trial ends"), what="the reminder email")
    time.sleep(1)
    assert len(_reminders(owner)) == 1 and len(outbox(settings, owner.email, "trial ends")) == 1


def test_the_daily_job_reminds_when_stripes_event_never_came(owner, worker, settings, stand_in, rows):
    assert _start_trial(owner)["status"] == "succeeded"
    subscription_id = owner.get("/v1/billing/subscription").json()["stripe_subscription_id"]
    # The trial ends in two days, at the stand-in and in our row alike: a webhook still on its way
    # (the stand-in's subscription.created) refetches the same end instead of undoing ours.
    ends = int(time.time()) + 2 * 86400 - 60
    stand_in.update_subscription(subscription_id, trial_end=ends)
    rows("update subscriptions set trial_end = to_timestamp(:e) where org_id = :o returning id",
         e=ends, o=owner.org_id)
    broker = build_broker(settings)
    for _ in range(2):  # run twice: one reminder
        BrokerSender(broker).send(Job("maintenance", "billing.remind_trials", (datetime.now(timezone.utc).isoformat(),)))
    broker.close()
    [reminder] = wait_for(lambda: _reminders(owner), what="the trial reminder")
    assert reminder["title"] == "Your Starter trial ends in 2 days"
    time.sleep(1)
    assert len(_reminders(owner)) == 1
