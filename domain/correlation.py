"""The request id that ties a request to the command, the messages and the events it caused.

The edge sets it for each request (`X-Request-ID`, or a new one); `domain.jobs`
copies it into every message sent from that context, a command keeps it in its
row (so a re-send by the sweeper or an operator carries it too), a worker sets it
again from the message it runs, and every log line of the process names it. It
is a context variable, so each request and each message has its own.
"""

from __future__ import annotations

import re
import uuid
from contextvars import ContextVar

request_id: ContextVar[str | None] = ContextVar("request_id", default=None)

# What we accept from a client: short, and nothing a log line or a header could be broken with.
WELL_FORMED = re.compile(r"[A-Za-z0-9][A-Za-z0-9._:-]{0,127}")


def accepted_or_new(offered: str | None) -> str:
    """The client's id when it is well formed, else a new one."""
    if offered and WELL_FORMED.fullmatch(offered):
        return offered
    return uuid.uuid4().hex
