"""Errors of the mail capability.

Adapters turn the provider's errors (HTTP statuses, sockets, the file
system) into these, so the email queue decides on retries without knowing
which provider is configured.
"""

from __future__ import annotations

from domain.errors import DomainError


class MailError(DomainError):
    """Base of the mail capability."""

    status_code = 502
    code = "mail_error"


class TransientMailError(MailError):
    """Worth trying again later: rate limited (429), a 5xx, a connection that failed."""

    status_code = 503
    code = "mail_unavailable"


class PermanentMailError(MailError):
    """Trying again cannot help: the provider refused this email, or we cannot build it.

    `message` is meant for a person: it names the provider's status and
    reason and what the provider said, when there was a provider answer.
    """

    code = "mail_rejected"

    def __init__(self, message: str, *, provider_status: int | None = None, provider_reason: str | None = None):
        super().__init__(message, details={"provider_status": provider_status, "provider_reason": provider_reason})
        self.provider_status = provider_status
        self.provider_reason = provider_reason


class MailTemplateError(PermanentMailError):
    """An unknown template, or a context missing one of its variables (a bug in the caller)."""

    status_code = 500
    code = "mail_template_error"
