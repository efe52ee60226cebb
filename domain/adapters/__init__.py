"""Adapters to the services outside: Stripe (and its local stand-in), SendGrid, the outbox.

Each implements a port that its capability declares (`domain.billing.payments.Payments`,
`domain.mail.mailer.Mailer`) and is built by `objecta.wiring`, which imports it
only when it is used: capabilities never import this package, so loading the
edge, or any capability, never loads the Stripe or SendGrid SDKs.
"""
