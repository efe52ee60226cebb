"""Billing: the plans catalog, subscriptions, invoices and Stripe's webhooks."""
