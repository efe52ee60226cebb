"""Finding 6 of issue 14: a Stripe object cannot be pinned on another organization through its metadata.

The attack, as the probe ran it: someone who can create objects at Stripe (at the local stand-in: anyone,
with any key) makes a customer of their own and subscribes it to the enterprise plan with
`metadata[org_id]` set to a victim organization. The stand-in's signed webhooks reach our edge. Before the
fix the worker took the metadata's word: the victim showed the enterprise plan, gained the invoice, and
its one-time confirmation email went to the attacker's address.
"""

from __future__ import annotations

import time
import uuid
from pathlib import Path

import httpx

from domain.billing import plans
from tests.fixtures.worker import wait_for


def test_a_subscription_naming_our_organization_in_its_metadata_is_stored_and_ignored(
        owner, worker, webhook_edge, stripe_api, rows, test_env):
    attacker = f"attacker-{uuid.uuid4().hex[:8]}@evil.example"
    with httpx.Client(base_url=stripe_api, headers={"Authorization": "Bearer sk_test_anything"}, timeout=10) as stripe:
        customer = stripe.post("/v1/customers", data={"email": attacker, "metadata[org_id]": owner.org_id}).json()
        card = stripe.post("/v1/payment_methods/pm_card_visa/attach", data={"customer": customer["id"]}).json()
        stripe.post(f"/v1/customers/{customer['id']}", data={"invoice_settings[default_payment_method]": card["id"]})
        created = stripe.post("/v1/subscriptions", data={
            "customer": customer["id"], "items[0][plan]": plans.PLANS["enterprise"].stripe_plan,
            "metadata[org_id]": owner.org_id})
        assert created.status_code == 200, created.text
        subscription = created.json()

    # Every event the stand-in sent about it is stored, closed, and says why it was ignored.
    def closed():
        found = rows("select type, error from stripe_events where handled_at is not null "
                     "and (payload->'data'->'object'->>'customer' = :c or payload->'data'->'object'->>'id' = :s)",
                     c=customer["id"], s=subscription["id"])
        return found if {"customer.subscription.created", "invoice.payment_succeeded"} <= {
            e["type"] for e in found} else None
    events = wait_for(closed, what="the stand-in's webhooks to be handled")
    acted_on = [e for e in events if e["type"].startswith(("customer.subscription.", "invoice."))]
    assert all((e["error"] or "").startswith("ignored:") and customer["id"] in e["error"] for e in acted_on), events

    time.sleep(1)  # anything the worker would still do about it
    assert owner.get("/v1/billing/subscription").json()["plan"] == "free"
    assert owner.get("/v1/billing/invoices").json()["items"] == []
    assert rows("select count(*) as n from subscriptions where stripe_subscription_id = :s",
                s=subscription["id"]) == [{"n": 0}]
    assert not [p for p in (Path(test_env["OBJECTA_HOME"]) / "outbox").glob("*.eml") if attacker in p.read_text()]
