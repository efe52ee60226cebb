"""Billing at the edge: the catalog, validation, permissions and forged webhooks."""

from __future__ import annotations

import json
import time

import pytest
from sqlalchemy import create_engine, text

from domain.db import sqlalchemy_url
from tests.fixtures.app import add_member
from tests.fixtures.stripe import event, sign


def test_the_plans_are_public_and_come_from_the_catalog(client, settings):
    response = client.get("/v1/billing/plans")
    assert response.status_code == 200
    plans = {p["name"]: p for p in response.json()["items"]}
    assert list(plans) == ["free", "starter", "pro", "enterprise"]
    assert plans["free"]["seats"] == settings.team.free_plan_seats and plans["free"]["stripe_plan"] is None
    assert (plans["starter"]["price"], plans["starter"]["interval"], plans["starter"]["stripe_plan"]) == (
        2900, "month", "objecta_starter_seats_monthly")


def test_without_a_subscription_the_organization_is_on_the_free_plan(owner, settings):
    body = owner.get("/v1/billing/subscription").json()
    assert (body["plan"], body["status"], body["seats"]) == ("free", "none", settings.team.free_plan_seats)
    assert owner.get("/v1/billing/invoices").json() == {"items": [], "next_cursor": None}


@pytest.mark.parametrize("body, status, code", [
    ({"plan": "platinum", "payment_method": "pm_card_visa"}, 422, "unknown_plan"),
    ({"plan": "free", "payment_method": "pm_card_visa"}, 422, "unknown_plan"),
    ({"plan": "starter", "payment_method": "card_123"}, 400, "validation_failed"),
    ({"plan": "starter"}, 400, "validation_failed"),
])
def test_a_bad_subscription_request_is_refused_before_anything_is_queued(owner, body, status, code):
    response = owner.post("/v1/billing/subscription", json=body)
    assert response.status_code == status, response.text
    assert response.json()["error"]["code"] == code


def test_only_an_owner_manages_billing_and_admins_read_it(client, settings, owner):
    admin = add_member(client, settings, owner.org_id, "admin")
    assert admin.get("/v1/billing/subscription").status_code == 200
    refused = admin.post("/v1/billing/subscription", json={"plan": "starter", "payment_method": "pm_card_visa"})
    assert refused.status_code == 403
    member = add_member(client, settings, owner.org_id, "member")
    assert member.get("/v1/billing/invoices").status_code == 403


@pytest.fixture
def stored(settings):
    engine = create_engine(sqlalchemy_url(settings.database.app_url))

    def count(event_id: str) -> int:
        with engine.begin() as connection:
            connection.execute(text("select set_config('app.scope', 'system', true)"))
            return connection.execute(text("select count(*) from stripe_events where id = :i"),
                                      {"i": event_id}).scalar_one()

    yield count
    engine.dispose()


def _forgeries(secret: str):
    payload = event("invoice.paid", {"id": "in_forged"})
    altered = payload.replace(b"in_forged", b"in_altered")
    yield "wrong secret", payload, {"Stripe-Signature": sign(payload, "whsec_not_ours")}
    yield "altered body", altered, {"Stripe-Signature": sign(payload, secret)}
    yield "stale timestamp", payload, {"Stripe-Signature": sign(payload, secret, int(time.time()) - 301)}
    yield "missing header", payload, {}
    yield "garbage header", payload, {"Stripe-Signature": "nonsense"}


def test_every_forged_webhook_is_a_400_and_stores_nothing(client, settings, stored):
    for case, payload, headers in _forgeries(settings.billing.webhook_secret):
        response = client.post("/v1/webhooks/stripe", content=payload, headers=headers)
        assert response.status_code == 400, (case, response.text)
        assert response.json()["error"]["code"] == "invalid_webhook", case
        assert stored(json.loads(payload)["id"]) == 0, case


def test_a_signed_event_is_stored_once_and_acknowledged(client, settings, stored):
    payload = event("product.created", {"id": "prod_x"})
    headers = {"Stripe-Signature": sign(payload, settings.billing.webhook_secret)}
    first = client.post("/v1/webhooks/stripe", content=payload, headers=headers)
    second = client.post("/v1/webhooks/stripe", content=payload, headers=headers)
    assert (first.status_code, second.status_code) == (200, 200)
    assert (first.json()["duplicate"], second.json()["duplicate"]) == (False, True)
    assert stored(json.loads(payload)["id"]) == 1


def test_usage_counts_what_the_plan_limits(owner, settings):
    agent = owner.post("/v1/agents", json={"name": "bot", "model": "gpt-4o"}).json()
    conversation = owner.post(f"/v1/agents/{agent['id']}/conversations", json={}).json()
    for text_ in ("hello", "again"):
        assert owner.post(f"/v1/agents/{agent['id']}/conversations/{conversation['id']}/messages",
                          json={"content": text_}).status_code == 201
    assert owner.post("/v1/team/invitations", json={"email": "usage-invitee@example.com",
                                                    "role": "member"}).status_code == 202
    usage = owner.get("/v1/billing/usage").json()
    assert usage["plan"] == "free"
    assert usage["seats"] == {"used": 2, "limit": settings.team.free_plan_seats}
    assert usage["agents"] == {"used": 1, "limit": settings.billing.free_plan_agents}
    assert usage["messages"] == {"used": 2, "limit": settings.billing.free_plan_messages}
