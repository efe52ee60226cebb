"""The mail port: one `Email`, one `Mailer.send`.

The adapters live outside the capability (`domain/adapters/sendgrid_mailer.py`,
`domain/adapters/outbox_mailer.py`); `objecta.wiring.mailer` picks one: SendGrid
when SENDGRID_API_KEY is set, else the outbox (`.eml` files under
$OBJECTA_HOME/outbox), so a machine with nothing configured still shows every
email it would send.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Protocol


@dataclass(frozen=True)
class Email:
    """One rendered email to one recipient."""

    to: str
    subject: str
    text: str
    html: str
    dedupe_key: str  # the caller's name for this email; the same key is never sent twice
    sender: str  # the From header, e.g. "ObjectaLabs <no-reply@example.com>"


class Mailer(Protocol):
    async def send(self, email: Email) -> str:
        """Hand `email` to the provider; return the provider's message id.

        Raises `TransientMailError` when trying again later may work and
        `PermanentMailError` when it cannot.
        """
        ...
