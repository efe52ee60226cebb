"""Log lines, the same in every process (objecta/observability.py calls `configure`).

`LOG_FORMAT=json` makes every line one JSON object (`time`, `level`, `process`,
`logger`, `message`, `request_id`, and `exception` with the traceback) for a log
collector; the default stays the readable text. Either way every line passes
`Redact`, which blanks what must never reach a log: passwords, tokens, secrets,
Authorization headers, Stripe keys, API keys, card numbers.
"""

from __future__ import annotations

import json
import logging
import re
from datetime import datetime, timezone

import dramatiq

from domain import correlation
from objecta.settings import Settings

TEXT_FORMAT = "%(asctime)s %(levelname)s {process} %(name)s: %(message)s"
# Loggers that servers give handlers of their own; in JSON mode they go through ours.
SERVER_LOGGERS = ("uvicorn", "uvicorn.error", "uvicorn.access", "websockets", "dramatiq", "periodiq")
MASK = "[redacted]"

# A key that names a secret, then its value (JSON, a query string, key=value or key: value).
_SECRET_FIELD = re.compile(
    r"""(?i)(["']?\b(?:password|new_password|current_password|passwd|secret|token|access_token|refresh_token|
    mfa_token|api_key|apikey|authorization|client_secret|totp_secret|recovery_code|card_number|cvc|
    stripe[_-]signature)\b["']?\s*[:=]\s*)("[^"]*"|'[^']*'|[^\s,&;}]+)""", re.X)
_SECRET_VALUES = [
    re.compile(r"(?i)\bbearer\s+[A-Za-z0-9._~+/=-]+"),
    re.compile(r"\beyJ[A-Za-z0-9_-]{5,}\.[A-Za-z0-9_-]{5,}\.[A-Za-z0-9_-]*"),  # a JWT
    re.compile(r"\b(?:sk|rk|pk)_(?:live|test)_[A-Za-z0-9]+"),  # Stripe keys
    re.compile(r"\bwhsec_[A-Za-z0-9+/=_-]+"),
    re.compile(r"\bobk_[A-Za-z0-9_-]+"),  # organization API keys
    re.compile(r"(?<=://)[^/\s:@]+:[^/\s@]+(?=@)"),  # credentials in a URL
    re.compile(r"\bSG\.[A-Za-z0-9_-]{10,}\.[A-Za-z0-9_-]{10,}"),  # SendGrid keys
]
# 13 to 19 digits, in groups of four when separated: a card number if it passes Luhn's check.
_CARD = re.compile(r"\b\d{4}([ -]?)\d{4}\1\d{4}\1\d{1,7}\b")


def _luhn(number: str) -> bool:
    digits = [int(d) for d in number if d.isdigit()]
    checksum = sum(digits[-1::-2]) + sum(sum(divmod(2 * d, 10)) for d in digits[-2::-2])
    return 13 <= len(digits) <= 19 and checksum % 10 == 0


def redact(text: str) -> str:
    text = _SECRET_FIELD.sub(lambda found: found.group(1) + MASK, text)
    for pattern in _SECRET_VALUES:
        text = pattern.sub(MASK, text)
    return _CARD.sub(lambda found: MASK if _luhn(found.group(0)) else found.group(0), text)


class Redact(logging.Filter):
    """On every handler: the final message and any traceback are redacted before they are written."""

    def filter(self, record: logging.LogRecord) -> bool:
        message = record.getMessage()
        cleaned = redact(message)
        if cleaned != message or record.args:
            record.msg, record.args = cleaned, None
        if record.exc_info and not record.exc_text:
            record.exc_text = logging.Formatter().formatException(record.exc_info)
        if record.exc_text:
            record.exc_text = redact(record.exc_text)
        if not hasattr(record, "request_id"):
            record.request_id = correlation.request_id.get()
        return True


class JsonFormatter(logging.Formatter):
    def __init__(self, process: str):
        super().__init__()
        self.process = process

    def format(self, record: logging.LogRecord) -> str:
        line = {"time": datetime.fromtimestamp(record.created, timezone.utc).isoformat(timespec="milliseconds"),
                "level": record.levelname, "process": self.process, "pid": record.process,
                "logger": record.name, "message": record.getMessage(),
                "request_id": getattr(record, "request_id", None) or correlation.request_id.get()}
        if record.exc_info and not record.exc_text:
            record.exc_text = redact(self.formatException(record.exc_info))
        if record.exc_text:
            line["exception"] = record.exc_text
        return json.dumps(line, default=str)


def configure(settings: Settings, process: str) -> None:
    """The root logger: text or JSON lines, every handler redacting; server loggers routed through it."""
    root = logging.getLogger()
    if not root.handlers:
        logging.basicConfig(level=settings.log_level, format=TEXT_FORMAT.format(process=process))
    root.setLevel(settings.log_level)
    json_lines = settings.observability.log_format == "json"
    for handler in root.handlers:
        if not any(isinstance(f, Redact) for f in handler.filters):
            handler.addFilter(Redact())
        # A worker process's handler is Dramatiq's pipe to its main process; pytest's capture is left alone.
        if json_lines and not type(handler).__module__.startswith("_pytest"):
            handler.setFormatter(JsonFormatter(process))
    if json_lines:
        for name in SERVER_LOGGERS:  # one format for every line of the process
            server_logger = logging.getLogger(name)
            server_logger.handlers.clear()
            server_logger.propagate = True


class RequestContext(dramatiq.Middleware):
    """A worker runs each message under the request id it carries (the jobs it sends inherit it)."""

    def before_process_message(self, broker, message) -> None:
        correlation.request_id.set(message.options.get("request_id"))

    def after_process_message(self, broker, message, *, result=None, exception=None) -> None:
        correlation.request_id.set(None)

    def after_skip_message(self, broker, message) -> None:
        correlation.request_id.set(None)
