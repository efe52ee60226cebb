"""Email: the mail port (SendGrid, or `.eml` files in the outbox), templates, and the email queue's bookkeeping.

Capabilities queue an email inside their transaction; it is sent after commit:

    from domain.mail import service as mail
    mail.send_later(session, dedupe_key=f"invitation:{invitation.id}", to=invitation.email,
                    template="invitation", context={...})

Importing this package does not load the SendGrid SDK (the adapters live in
`domain/adapters/`, built by `objecta.wiring.mailer`), so the edge can queue
emails without it.
"""

from domain.mail.errors import MailError, MailTemplateError, PermanentMailError, TransientMailError
from domain.mail.mailer import Email, Mailer
from domain.mail.rendering import render

__all__ = ["Email", "MailError", "MailTemplateError", "Mailer", "PermanentMailError", "TransientMailError",
           "render"]
