"""The mail port: one `Email`, one `Mailer.send`, and the one place that picks the provider.

`mailer_for(settings)` returns the SendGrid adapter when SENDGRID_API_KEY is
set and the outbox (`.eml` files under $OBJECTA_HOME/outbox) otherwise, so
a machine with nothing configured still shows every email it would send.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING, Protocol

if TYPE_CHECKING:  # the domain reads settings it is given; it never loads them
    from objecta.settings import Settings


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


def mailer_for(settings: Settings) -> Mailer:
    """The configured mailer: SendGrid when it has an API key, else the local outbox."""
    # Imported here, not at the top: the edge imports this package to queue
    # emails and must never load the SendGrid SDK.
    if settings.mail.sendgrid_api_key:
        from domain.mail.sendgrid_mailer import SendGridMailer

        return SendGridMailer(settings.mail.sendgrid_api_key, settings.mail.sendgrid_api_host)
    from domain.mail.outbox import OutboxMailer

    return OutboxMailer(settings.mail.outbox)
