"""The payments adapter: billing's port (`domain.billing.payments.Payments`) over Stripe's SDK.

`StripePayments` talks to Stripe through the official SDK's `StripeClient`,
configured in the constructor, never at import. `StandInPayments` talks to the
local stand-in (localstripe, a separate process) used when no
`STRIPE_SECRET_KEY` is set: the same HTTP API (the Plans API and
`items[].plan`, which the stand-in knows; it has no `/v1/prices`), plus the
corrections for what the stand-in gets wrong, which the production path never
runs. Stripe's exceptions stop here, turned into `CardDeclined` (permanent,
with the card's reason), `PaymentRejected` (permanent) or
`PaymentUnavailable` (network, 429, 5xx: retry later).
"""

from __future__ import annotations

import time
from dataclasses import replace
from typing import Any

import stripe

from domain.billing.errors import CardDeclined, PaymentRejected, PaymentUnavailable
from domain.billing.payments import InvoiceState, SubscriptionState
from domain.billing.plans import CURRENCY, Plan

# Any `sk_` key satisfies the stand-in; it has no accounts.
STAND_IN_KEY = "sk_test_objecta_local_stand_in"
TIMEOUT_SECONDS = 20


class StripePayments:
    """Stripe through the official SDK's `StripeClient`."""

    def __init__(self, secret_key: str, api_base: str | None = None, *, max_network_retries: int = 2,
                 timeout: float = TIMEOUT_SECONDS):
        base = {"api": api_base} if api_base else {}
        self._http = stripe.HTTPXClient(timeout=timeout)
        self.client = stripe.StripeClient(
            secret_key, base_addresses=base, max_network_retries=max_network_retries, http_client=self._http)

    # -- customers and payment methods -------------------------------------------------

    async def create_customer(self, *, org_id: str, name: str, email: str | None, idempotency_key: str) -> str:
        params: dict[str, Any] = {"name": name, "metadata": {"org_id": org_id}}
        if email:
            params["email"] = email
        customer = await _call(self.client.v1.customers.create_async(params, {"idempotency_key": idempotency_key}))
        return customer.id

    async def attach_default_payment_method(self, customer: str, payment_method: str, *,
                                            idempotency_key: str) -> str:
        """Attach the payment method and make it the customer's default; its id (test ids become real ones)."""
        attached = await _call(self.client.v1.payment_methods.attach_async(
            payment_method, {"customer": customer}, {"idempotency_key": idempotency_key + ":attach"}))
        await _call(self.client.v1.customers.update_async(
            customer, {"invoice_settings": {"default_payment_method": attached.id}},
            {"idempotency_key": idempotency_key + ":default"}))
        return attached.id

    # -- subscriptions and invoices ----------------------------------------------------

    async def create_subscription(self, customer: str, plan: Plan, *, org_id: str, quantity: int = 1,
                                  trial_end: int | None = None, idempotency_key: str) -> SubscriptionState:
        """Subscribe and charge the first invoice now; a refused charge raises and leaves no subscription.

        `error_if_incomplete`: Stripe answers 402 instead of creating an `incomplete` subscription.
        With `trial_end` (unix seconds, fixed by the caller so a retry sends the same parameters under
        the same idempotency key) nothing is charged until then: the subscription is `trialing`.
        """
        params: dict[str, Any] = {
            "customer": customer, "items": [{"plan": plan.stripe_plan, "quantity": quantity}],
            "payment_behavior": "error_if_incomplete", "metadata": {"org_id": org_id}}
        if trial_end is not None:
            params["trial_end"] = trial_end
        created = await _call(self.client.v1.subscriptions.create_async(params, {"idempotency_key": idempotency_key}))
        return self._subscription_state(created.to_dict())

    async def set_cancel_at_period_end(self, subscription_id: str, cancel: bool, *,
                                       idempotency_key: str) -> SubscriptionState:
        """Cancel at the end of the paid period (True), or take that back (False)."""
        updated = await _call(self.client.v1.subscriptions.update_async(
            subscription_id, {"cancel_at_period_end": cancel}, {"idempotency_key": idempotency_key}))
        return self._subscription_state(updated.to_dict())

    async def change_plan(self, subscription_id: str, plan: Plan, seats: int, *,
                          idempotency_key: str) -> SubscriptionState:
        """Put the subscription's item on `plan` with `seats` as its quantity, now; Stripe prorates the rest
        of the period (its default, `create_prorations`: the difference is on the next invoice)."""
        current = await self.subscription(subscription_id)
        item: dict[str, Any] = {"plan": plan.stripe_plan, "quantity": seats}
        if current.item_id:
            item["id"] = current.item_id
        updated = await _call(self.client.v1.subscriptions.update_async(
            subscription_id, {"items": [item]}, {"idempotency_key": idempotency_key}))
        return self._subscription_state(updated.to_dict())

    async def set_trial_end(self, subscription_id: str, trial_end: int, *,
                            idempotency_key: str) -> SubscriptionState:
        """A later trial end: `proration_behavior: none`, since a trial has nothing to prorate."""
        updated = await _call(self.client.v1.subscriptions.update_async(
            subscription_id, self._trial_end_params(trial_end), {"idempotency_key": idempotency_key}))
        return self._subscription_state(updated.to_dict())

    @staticmethod
    def _trial_end_params(trial_end: int) -> dict[str, Any]:
        return {"trial_end": trial_end, "proration_behavior": "none"}

    async def subscription(self, subscription_id: str) -> SubscriptionState:
        found = await _call(self.client.v1.subscriptions.retrieve_async(subscription_id))
        return self._subscription_state(found.to_dict())

    async def invoice(self, invoice_id: str) -> InvoiceState:
        return invoice_state((await _call(self.client.v1.invoices.retrieve_async(invoice_id))).to_dict())

    # -- the catalog -------------------------------------------------------------------

    async def ensure_plan(self, plan: Plan) -> bool:
        """Create the plan's product and price plan unless they exist; True when something was created."""
        created = False
        if not await self._exists(self.client.v1.products.retrieve_async(plan.stripe_product)):
            await _call(self.client.v1.products.create_async(
                {"id": plan.stripe_product, "name": f"ObjectaLabs {plan.title}"},
                {"idempotency_key": f"catalog:{plan.stripe_product}"}))
            created = True
        tiers = [{"up_to": plan.seats, "flat_amount": plan.price, "unit_amount": 0},
                 {"up_to": "inf", "unit_amount": plan.extra_seat_price}]
        # Stripe leaves a plan's tiers out unless asked to expand them.
        existing = await self._existing(self.client.v1.plans.retrieve_async(plan.stripe_plan, {"expand": ["tiers"]}))
        if existing is None:
            await _call(self.client.v1.plans.create_async(
                {"id": plan.stripe_plan, "product": plan.stripe_product, "currency": CURRENCY,
                 "interval": plan.interval, "nickname": plan.title, "billing_scheme": "tiered",
                 "tiers_mode": "graduated", "tiers": tiers},
                {"idempotency_key": f"catalog:{plan.stripe_plan}:{plan.price}:{plan.seats}:{plan.extra_seat_price}"}))
            created = True
        elif _tier_prices(existing) != _tier_prices({"tiers": tiers}):
            # Stripe plans cannot change their prices: a changed price needs a new id in the catalog.
            raise PaymentRejected(f"the plan {plan.stripe_plan} at Stripe is priced {_tier_prices(existing)}, the "
                                  f"catalog says {_tier_prices({'tiers': tiers})}: give the catalog entry a new id")
        return created

    @classmethod
    async def _exists(cls, request) -> bool:
        return await cls._existing(request) is not None

    @staticmethod
    async def _existing(request) -> dict[str, Any] | None:
        try:
            return (await _call(request)).to_dict()
        except PaymentRejected as error:
            if error.details and error.details.get("http_status") == 404:
                return None
            raise

    async def close(self) -> None:
        await self._http.close_async()

    def _subscription_state(self, raw: dict[str, Any]) -> SubscriptionState:
        return subscription_state(raw)


class StandInPayments(StripePayments):
    """The local stand-in: Stripe's API, with what the stand-in gets wrong corrected here.

    Chosen by `objecta.wiring.payments` only when no STRIPE_SECRET_KEY is set,
    so none of this runs against Stripe.
    """

    def __init__(self, api_base: str, **options: Any):
        super().__init__(STAND_IN_KEY, api_base, **options)

    async def create_subscription(self, customer: str, plan: Plan, **options: Any) -> SubscriptionState:
        state = await super().create_subscription(customer, plan, **options)
        if state.status == "incomplete":
            # Stripe answers 402 to `error_if_incomplete` when the first charge fails; the stand-in
            # returns an unpaid subscription instead: end it, and say what Stripe would.
            await _call(self.client.v1.subscriptions.cancel_async(state.id))
            raise CardDeclined("your card was declined when we charged the first invoice",
                               details={"code": "card_declined", "subscription": state.id})
        return state

    @staticmethod
    def _trial_end_params(trial_end: int) -> dict[str, Any]:
        return {"trial_end": trial_end}  # the stand-in refuses `proration_behavior` (and prorates nothing)

    def _subscription_state(self, raw: dict[str, Any]) -> SubscriptionState:
        state = subscription_state(raw)
        trial_end = raw.get("trial_end")
        if state.status == "incomplete" and trial_end and trial_end > time.time() and not raw.get("latest_invoice"):
            # The stand-in never says `trialing`: it leaves a trial `incomplete`, with no invoice. Stripe
            # says `trialing` itself, and never has an incomplete subscription without an invoice.
            return replace(state, status="trialing")
        return state



async def _call(request):
    """Await one SDK call, turning Stripe's exceptions into ours."""
    try:
        return await request
    except stripe.CardError as error:
        reason = error.user_message or "your card was declined"
        raise CardDeclined(reason, details={"code": error.code, "decline_code": getattr(error, "decline_code", None)}
                           ) from error
    except stripe.APIConnectionError as error:
        # The SDK's own sentence sends our customers to Stripe's support; the network detail is for the logs.
        raise PaymentUnavailable("Stripe could not be reached (a network error)") from error
    except stripe.RateLimitError as error:
        raise PaymentUnavailable(f"Stripe could not be reached: {error.user_message or error}") from error
    except stripe.StripeError as error:
        status = error.http_status
        if status is None or status >= 500 or status == 429:
            raise PaymentUnavailable(f"Stripe is unavailable ({status}): {error.user_message or error}") from error
        raise PaymentRejected(f"Stripe refused the request ({status}): {error.user_message or error}",
                              details={"http_status": status, "code": error.code}) from error


def _tier_prices(plan: dict[str, Any]) -> list[tuple[str, int, int]]:
    """A tiered plan's (up to, flat, per unit) as comparable values (the stand-in echoes them as strings)."""
    return [(str(t.get("up_to") or "inf"), int(t.get("flat_amount") or 0), int(t.get("unit_amount") or 0))
            for t in plan.get("tiers") or []]


def _first_item(raw: dict[str, Any]) -> dict[str, Any]:
    items = (raw.get("items") or {}).get("data") or []
    return items[0] if items else {}


def subscription_state(raw: dict[str, Any]) -> SubscriptionState:
    item = _first_item(raw)
    plan = item.get("plan") or raw.get("plan") or {}
    # Newer API versions moved the period to the item; older ones (and the stand-in) keep it on the subscription.
    period_end = raw.get("current_period_end") or item.get("current_period_end")
    return SubscriptionState(
        id=raw["id"], customer=_id(raw.get("customer")), status=raw["status"], trial_end=raw.get("trial_end"),
        stripe_plan=plan.get("id") if isinstance(plan, dict) else plan,
        quantity=int(item.get("quantity") or raw.get("quantity") or 1), current_period_end=period_end,
        cancel_at_period_end=bool(raw.get("cancel_at_period_end")),
        org_id=(raw.get("metadata") or {}).get("org_id"), item_id=item.get("id"))


def invoice_state(raw: dict[str, Any]) -> InvoiceState:
    subscription = raw.get("subscription")
    if subscription is None:
        details = ((raw.get("parent") or {}).get("subscription_details") or {})
        subscription = details.get("subscription")
    return InvoiceState(
        id=raw["id"], customer=_id(raw.get("customer")), subscription=_id(subscription) if subscription else None,
        status=raw.get("status") or "draft", amount_due=int(raw.get("amount_due") or 0),
        amount_paid=int(raw.get("amount_paid") or 0), currency=raw.get("currency") or CURRENCY,
        customer_email=raw.get("customer_email"), number=raw.get("number"),
        hosted_invoice_url=raw.get("hosted_invoice_url"), created=int(raw.get("created") or 0),
        period_start=raw.get("period_start"), period_end=raw.get("period_end"))


def _id(value: Any) -> str:
    return value["id"] if isinstance(value, dict) else value
