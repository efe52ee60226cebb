"""The production mailer: SendGrid's v3 Mail Send API through the official SDK.

The SDK is synchronous (urllib), so each call runs in a thread and never
blocks the worker's event loop.
"""

from __future__ import annotations

import asyncio
import http.client
import json

from python_http_client.exceptions import HTTPError
from sendgrid import SendGridAPIClient
from sendgrid.helpers.mail import CustomArg, Mail

from domain.mail.errors import PermanentMailError, TransientMailError
from domain.mail.mailer import Email

# Long enough for a slow API, short enough that a hung connection becomes a
# retry rather than a worker thread lost for good.
TIMEOUT_SECONDS = 30.0


class SendGridMailer:
    def __init__(self, api_key: str, host: str = "https://api.sendgrid.com", timeout: float = TIMEOUT_SECONDS):
        self._client = SendGridAPIClient(api_key=api_key, host=host)
        self._timeout = timeout

    async def send(self, email: Email) -> str:
        body = _request_body(email)
        # `client.mail.send.post` is the SDK's documented call; unlike `send()` it takes a timeout.
        post = self._client.client.mail.send.post
        try:
            response = await asyncio.to_thread(post, request_body=body, timeout=self._timeout)
        except HTTPError as error:
            raise provider_error(error.status_code, error.reason, error.body) from error
        except (OSError, http.client.HTTPException) as error:  # refused, reset, DNS, timeout
            raise TransientMailError(f"could not reach SendGrid: {error}") from error
        return response.headers.get("X-Message-Id") or ""


def _request_body(email: Email) -> dict:
    message = Mail(from_email=email.sender, to_emails=email.to, subject=email.subject,
                   plain_text_content=email.text, html_content=email.html)
    # Comes back in SendGrid's event webhooks, so a bounce can be traced to its delivery row.
    message.custom_arg = CustomArg("dedupe_key", email.dedupe_key)
    return message.get()


def provider_error(status: int, reason: str | None, body: bytes | str | None) -> TransientMailError | PermanentMailError:
    """Our error for an HTTP error answer: 429 and 5xx are transient, other 4xx permanent."""
    said = _provider_messages(body)
    summary = f"{status} {reason or ''}".strip()
    if status == 429 or status >= 500:
        # No "will retry" here: the same sentence ends the last attempt too (the row's status says which).
        return TransientMailError(f"SendGrid is unavailable ({summary})" + (f": {said}" if said else ""))
    return PermanentMailError(f"SendGrid refused the email ({summary})" + (f": {said}" if said else ""),
                              provider_status=status, provider_reason=reason)


def _provider_messages(body: bytes | str | None) -> str:
    """SendGrid's own explanation: `{"errors": [{"message", "field"}]}`, else the raw body, shortened."""
    if not body:
        return ""
    text = body.decode("utf-8", "replace") if isinstance(body, bytes) else body
    try:
        errors = json.loads(text).get("errors") or []
        messages = [f"{e['message']} ({e['field']})" if e.get("field") else e["message"]
                    for e in errors if isinstance(e, dict) and e.get("message")]
    except (ValueError, AttributeError, TypeError):
        messages = []
    return "; ".join(messages) if messages else text.strip()[:300]
