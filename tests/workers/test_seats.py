"""Seats: the plan's price includes some; more are bought as the subscription's quantity (PATCH {seats}),
changed now and prorated by Stripe; a plan change keeps the seats bought; the seat limit follows."""

from __future__ import annotations

import pytest

from domain.jobs import Job
from objecta.broker import BrokerSender, build_broker
from tests.fixtures.app import add_member
from tests.fixtures.worker import wait_for


def _finished(account, response):
    assert response.status_code == 202, response.text
    command_id = response.json()["command_id"]
    return wait_for(lambda: (c := account.get(f"/v1/commands/{command_id}").json())["status"] in (
        "succeeded", "failed") and c, what="the command")


def _quantity(stand_in, subscription_id) -> int:
    [item] = stand_in.get(f"/v1/subscriptions/{subscription_id}")["items"]["data"]
    return item["quantity"]


@pytest.fixture
def subscribed(owner, worker, webhook_edge):
    command = _finished(owner, owner.post("/v1/billing/subscription",
                                          json={"plan": "starter", "payment_method": "pm_card_visa"}))
    assert command["status"] == "succeeded", command
    return owner


def test_buying_seats_raises_the_quantity_and_the_seat_limit(subscribed, stand_in, client, settings):
    owner = subscribed
    subscription_id = owner.get("/v1/billing/subscription").json()["stripe_subscription_id"]
    assert _quantity(stand_in, subscription_id) == 10  # the quantity is the seats, those included too
    starter = next(p for p in owner.get("/v1/billing/plans").json()["items"] if p["name"] == "starter")
    assert (starter["seats"], starter["extra_seat_price"]) == (10, 800)

    command = _finished(owner, owner.patch("/v1/billing/subscription", json={"seats": 12}))
    assert command["status"] == "succeeded" and command["result"]["seats"] == 12, command
    assert _quantity(stand_in, subscription_id) == 12
    body = owner.get("/v1/billing/subscription").json()
    assert (body["plan"], body["seats"], body["stripe_subscription_id"]) == ("starter", 12, subscription_id)
    assert owner.get("/v1/billing/usage").json()["seats"] == {"used": 1, "limit": 12}

    # Eleven more people fill the twelve seats: the twelfth invitation fits, a thirteenth does not.
    for _ in range(10):
        add_member(client, settings, owner.org_id, "member")
    assert owner.post("/v1/team/invitations", json={"email": "twelfth@example.com", "role": "member"}
                      ).status_code == 202
    refused = owner.post("/v1/team/invitations", json={"email": "thirteenth@example.com", "role": "member"})
    assert (refused.status_code, refused.json()["error"]["code"]) == (402, "seat_limit_reached")

    # Fewer seats than are in use: refused; so is anything below what the plan includes.
    in_use = owner.patch("/v1/billing/subscription", json={"seats": 11})
    assert (in_use.status_code, in_use.json()["error"]["code"]) == (409, "seats_in_use")
    assert in_use.json()["error"]["details"]["used"] == 12


def test_seat_changes_refused_at_the_door(subscribed):
    owner = subscribed
    cases = [({"seats": 9}, 422, "seats_below_plan"), ({"seats": 10}, 409, "plan_unchanged"),
             ({}, 422, "nothing_to_change"), ({"plan": "starter", "seats": 0}, 400, "validation_failed")]
    for body, status, code in cases:
        answer = owner.patch("/v1/billing/subscription", json=body)
        assert (answer.status_code, answer.json()["error"]["code"]) == (status, code), (body, answer.text)


def test_a_plan_change_keeps_the_seats_bought(subscribed, stand_in, worker):
    owner = subscribed
    subscription_id = owner.get("/v1/billing/subscription").json()["stripe_subscription_id"]
    assert _finished(owner, owner.patch("/v1/billing/subscription", json={"seats": 30}))["status"] == "succeeded"
    # Upgrading to pro (25 included): the 30 seats bought stay.
    assert _finished(owner, owner.patch("/v1/billing/subscription", json={"plan": "pro"}))["status"] == "succeeded"
    assert (owner.get("/v1/billing/subscription").json()["seats"], _quantity(stand_in, subscription_id)) == (30, 30)
    # A downgrade with seats is refused (it waits for the period's end; seats change now).
    mixed = owner.patch("/v1/billing/subscription", json={"plan": "starter", "seats": 12})
    assert (mixed.status_code, mixed.json()["error"]["code"]) == (422, "seats_with_downgrade")


def test_the_worker_checks_the_seats_again_when_people_joined_since_the_request(
        subscribed, stand_in, client, settings, rows):
    """Accepted at 12 seats for 11 people; a twelfth joined before the worker ran: fewer seats are refused there."""
    owner = subscribed
    assert _finished(owner, owner.patch("/v1/billing/subscription", json={"seats": 12}))["status"] == "succeeded"
    subscription_id = owner.get("/v1/billing/subscription").json()["stripe_subscription_id"]
    for _ in range(11):
        add_member(client, settings, owner.org_id, "member")
    # The request as the edge accepted it a moment before the last person joined (the edge now refuses it).
    [command] = rows(
        "insert into commands (id, org_id, user_id, kind, queue, actor, payload, status, attempts) values "
        "(gen_random_uuid(), :o, :u, 'billing.change_plan', 'billing', 'billing.change_plan', "
        "cast(:p as jsonb), 'queued', 0) returning id",
        o=owner.org_id, u=owner.user_id,
        p=f'{{"subscription": "{subscription_id}", "plan": "starter", "seats": 11, "seats_only": true}}')
    broker = build_broker(settings)
    BrokerSender(broker).send(Job("billing", "billing.change_plan", (str(command["id"]), owner.org_id)))
    broker.close()
    finished = wait_for(lambda: (c := owner.get(f"/v1/commands/{command['id']}").json())["status"] in (
        "succeeded", "failed") and c, what="the command")
    assert (finished["status"], finished["attempts"]) == ("failed", 1), finished
    assert "12 seats are in use" in finished["error"]
    assert _quantity(stand_in, subscription_id) == 12  # Stripe was not asked
