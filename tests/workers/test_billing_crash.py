"""A billing worker killed between "customer created at Stripe" and "saved" does not make a second customer.

End to end: a real worker pool talks to the stand-in through `tests/fixtures/stripe_proxy.py`, which
adds Stripe's idempotency keys (the stand-in ignores them) and SIGKILLs the pool the moment the stand-in
has created the customer, before the worker hears of it. The broker then redelivers the unacknowledged
message to a fresh pool (Redis: after the shortened heartbeat timeout of `test_env`; RabbitMQ: at once,
when the dead pool's connection drops).
"""

from __future__ import annotations

import uuid

import httpx

from tests.fixtures.worker import wait_for

BILLING = ["workers.billing"]


def _command(account, command_id):
    return account.get(f"/v1/commands/{command_id}").json()


def _customer_ids(rows, org_id):
    return [r["stripe_customer_id"] for r in rows("select stripe_customer_id from billing_customers "
                                                  "where org_id = :o", o=org_id)]


def test_a_worker_killed_after_stripe_created_the_customer_does_not_create_a_second_on_retry(
        owner, start_worker, stripe_proxy, stand_in, rows):
    through_proxy = {"STRIPE_API_BASE": stripe_proxy.url}
    first = start_worker(BILLING, env=through_proxy)
    # Only this organization's customer (its id is in the form body) springs the trap.
    killed = stripe_proxy.arm("POST", "/v1/customers", first.kill, body_contains=owner.org_id)

    response = owner.post("/v1/billing/subscription", json={"plan": "starter", "payment_method": "pm_card_visa"})
    assert response.status_code == 202, response.text
    command_id = response.json()["command_id"]
    assert killed.wait(60), f"the worker never created the customer:\n{first.log()}"

    # Stripe has the customer; we do not, and nobody is left to save it.
    assert not first.alive
    [customer] = stand_in.customers_of(owner.org_id)
    assert _customer_ids(rows, owner.org_id) == []
    assert _command(owner, command_id)["status"] == "running"

    start_worker(BILLING, env=through_proxy)  # a fresh pool; the broker hands it the unacknowledged message
    command = wait_for(lambda: (c := _command(owner, command_id))["status"] in ("succeeded", "failed") and c,
                       60, what="the redelivered command to finish")
    assert (command["status"], command["attempts"]) == ("succeeded", 2), command

    # Still one customer at Stripe, and it is the one we saved.
    assert [c["id"] for c in stand_in.customers_of(owner.org_id)] == [customer["id"]]
    assert _customer_ids(rows, owner.org_id) == [customer["id"]]
    # Because the retry asked again with the same key and got Stripe's first answer back.
    key = f"{command_id}:customer"
    creates = stripe_proxy.requests("POST", "/v1/customers")
    assert [(c.idempotency_key, c.answered_by) for c in creates] == [(key, "stand-in"), (key, "store")]

    subscription = owner.get("/v1/billing/subscription").json()
    assert (subscription["plan"], subscription["status"]) == ("starter", "active")
    [at_stripe] = stand_in.subscriptions_of(customer["id"])
    assert (at_stripe["id"], at_stripe["status"]) == (subscription["stripe_subscription_id"], "active")


def test_the_proxy_answers_a_repeated_idempotency_key_as_stripe_does(stripe_proxy, stand_in):
    """What the test above relies on: the proxy's store, and nothing else, stands between us and the stand-in."""
    org_id = str(uuid.uuid4())
    http = httpx.Client(base_url=stripe_proxy.url, headers={"Authorization": "Bearer sk_test_proxy"}, timeout=10)

    def create(key: str | None, name: str = "Acme") -> httpx.Response:
        return http.post("/v1/customers", data={"name": name, "metadata[org_id]": org_id},
                         headers={"Idempotency-Key": key} if key else {})

    first, again = create("k1"), create("k1")
    assert (first.status_code, again.status_code, again.json()["id"]) == (200, 200, first.json()["id"])
    assert again.headers["Idempotent-Replayed"] == "true"
    assert create("k1", name="Other").status_code == 400  # the same key with other parameters
    create(None), create(None)  # no key: the stand-in creates each time, as Stripe does
    assert len(stand_in.customers_of(org_id)) == 3
    assert [s.answered_by for s in stripe_proxy.requests("POST", "/v1/customers")] == [
        "stand-in", "store", "proxy", "stand-in", "stand-in"]
    http.close()
