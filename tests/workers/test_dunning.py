"""Dunning: past BILLING_GRACE_DAYS after a failed payment the organization is restricted, until an invoice is paid.

The stand-in cannot fail a renewal on demand, nor move its clock: the failure time is set in the past
in our row, and the "paid again" is the stand-in's paid invoice re-announced after we mark it open.
"""

from __future__ import annotations

import time
from datetime import datetime, timezone


from domain.jobs import Job
from objecta.broker import BrokerSender, build_broker
from tests.fixtures.app import sign_up
from tests.fixtures.stripe import event, sign
from tests.fixtures.worker import wait_for


def _run_grace_check(settings):
    broker = build_broker(settings)
    BrokerSender(broker).send(Job("maintenance", "billing.check_grace", (datetime.now(timezone.utc).isoformat(),)))
    broker.close()


def _types(account) -> list[str]:
    return [n["type"] for n in account.get("/v1/notifications").json()["items"]]


def test_an_unpaid_failure_past_the_grace_period_restricts_growth_until_an_invoice_is_paid(
        owner, client, worker, webhook_edge, rows, settings):
    agent = owner.post("/v1/agents", json={"name": "bot", "model": "gpt-4o"}).json()
    subscribed = owner.post("/v1/billing/subscription", json={"plan": "starter", "payment_method": "pm_card_visa"})
    assert subscribed.status_code == 202
    [invoice] = wait_for(lambda: [i for i in owner.get("/v1/billing/invoices").json()["items"]
                                  if i["status"] == "paid"], what="the paid invoice")

    # A failed payment BILLING_GRACE_DAYS + 1 days ago (what `invoice.payment_failed` starts), then the daily check.
    rows("update billing_customers set payment_failed_at = now() - make_interval(days => :d) "
        "where org_id = :o returning org_id", d=settings.billing.grace_days + 1, o=owner.org_id)
    _run_grace_check(settings)
    wait_for(lambda: rows("select 1 from billing_customers where org_id = :o and restricted_at is not null",
                         o=owner.org_id), what="the restriction")

    refused = [owner.post("/v1/agents", json={"name": "more", "model": "gpt-4o"}),
               owner.post(f"/v1/agents/{agent['id']}/deploy"),
               owner.post("/v1/team/invitations", json={"email": "late@example.com", "role": "member"})]
    assert [(r.status_code, r.json()["error"]["code"]) for r in refused] == [(402, "organization_restricted")] * 3
    assert "payment failed" in refused[0].json()["error"]["message"]
    assert owner.get("/v1/agents").status_code == 200  # reading and existing agents keep working
    wait_for(lambda: "billing.restricted" in _types(owner), what="the restricted notice")

    # The invoice is paid (here: marked open again, then Stripe's event about it arrives and is refetched as paid).
    rows("update invoices set status = 'open', paid_at = null where stripe_invoice_id = :i returning id",
        i=invoice["stripe_invoice_id"])
    payload = event("invoice.payment_succeeded", {"id": invoice["stripe_invoice_id"]})
    assert client.post("/v1/webhooks/stripe", content=payload, headers={
        "Stripe-Signature": sign(payload, settings.billing.webhook_secret)}).status_code == 200
    wait_for(lambda: rows("select 1 from billing_customers where org_id = :o and payment_failed_at is null "
                         "and restricted_at is null", o=owner.org_id), what="the restriction to be lifted")
    assert owner.post("/v1/agents", json={"name": "more", "model": "gpt-4o"}).status_code == 201
    wait_for(lambda: "billing.restored" in _types(owner), what="the restored notice")


def test_within_the_grace_period_nothing_is_restricted(owner, worker, rows, settings):
    overdue = sign_up(owner.client)
    for account, days in ((owner, settings.billing.grace_days - 1), (overdue, settings.billing.grace_days + 20)):
        rows("insert into billing_customers (org_id, stripe_customer_id, payment_failed_at) "
            "values (:o, :c, now() - make_interval(days => :d)) returning org_id",
            o=account.org_id, c=f"cus_test_{account.org_id}", d=days)
    _run_grace_check(settings)
    # The overdue organization (checked in the same run) is restricted; ours, within its grace, is not.
    wait_for(lambda: rows("select 1 from billing_customers where org_id = :o and restricted_at is not null",
                         o=overdue.org_id), what="the overdue organization's restriction")
    assert rows("select restricted_at from billing_customers where org_id = :o", o=owner.org_id) == [
        {"restricted_at": None}]
    assert owner.post("/v1/agents", json={"name": "fine", "model": "gpt-4o"}).status_code == 201
    assert overdue.post("/v1/agents", json={"name": "no", "model": "gpt-4o"}).status_code == 402


def test_three_days_before_the_restriction_owners_are_told_what_is_due_once(owner, worker, rows, settings):
    recent = sign_up(owner.client)
    grace = settings.billing.grace_days
    for account, days in ((owner, grace - 2), (recent, 1)):
        rows("insert into billing_customers (org_id, stripe_customer_id, payment_failed_at) "
            "values (:o, :c, now() - make_interval(days => :d)) returning org_id",
            o=account.org_id, c=f"cus_test_{account.org_id}", d=days)
    rows("insert into invoices (id, org_id, stripe_invoice_id, status, amount_due, amount_paid, currency, issued_at) "
        "values (gen_random_uuid(), :o, :i, 'open', 2900, 0, 'usd', now() - interval '3 days') returning id",
        o=owner.org_id, i=f"in_test_{owner.org_id}")
    _run_grace_check(settings)
    _run_grace_check(settings)  # the next day's run: no second reminder
    [due] = wait_for(lambda: [n for n in owner.get("/v1/notifications").json()["items"]
                              if n["type"] == "billing.payment_due"], what="the payment-due reminder")
    assert due["title"] == "Payment due: 29.00 USD"
    restriction_day = rows("select payment_failed_at + make_interval(days => :g) as day from billing_customers "
                          "where org_id = :o", g=grace, o=owner.org_id)[0]["day"]
    assert f"{restriction_day:%B %d, %Y}" in due["body"]
    time.sleep(1)
    assert [n["type"] for n in owner.get("/v1/notifications").json()["items"]].count("billing.payment_due") == 1
    assert "billing.payment_due" not in _types(recent)  # four days from its restriction: not yet
    assert rows("select restricted_at from billing_customers where org_id = :o", o=owner.org_id) == [
        {"restricted_at": None}]
