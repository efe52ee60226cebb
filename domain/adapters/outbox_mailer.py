"""The local mailer: each email becomes an RFC 5322 `.eml` file under the outbox folder.

Used when no SendGrid key is configured (`objecta up`, the tests), so a
person can open what would have been sent in any mail client. File names
start with the UTC time, so `ls` lists them oldest first, and end with the
dedupe key made safe for a file name.
"""

from __future__ import annotations

import asyncio
import hashlib
import logging
import os
import re
from datetime import datetime, timezone
from email.message import EmailMessage
from email.policy import SMTP
from email.utils import format_datetime, make_msgid, parseaddr
from pathlib import Path

from domain.mail.errors import TransientMailError
from domain.mail.mailer import Email

log = logging.getLogger(__name__)

_UNSAFE = re.compile(r"[^A-Za-z0-9._-]+")


class OutboxMailer:
    def __init__(self, folder: Path):
        self.folder = Path(folder)

    async def send(self, email: Email) -> str:
        try:
            return await asyncio.to_thread(self._write, email)
        except OSError as error:  # a full disk or a missing mount may heal; retries are bounded
            raise TransientMailError(f"could not write to the outbox {self.folder}: {error}") from error

    def _write(self, email: Email) -> str:
        now = datetime.now(timezone.utc)
        message = build_message(email, now)
        path = self.folder / file_name(email.dedupe_key, now)
        self.folder.mkdir(parents=True, exist_ok=True)
        # Write aside, then rename: a reader never sees half an email. The dot
        # keeps the temporary file out of `*.eml` listings.
        temporary = self.folder / f".{path.name}.{os.getpid()}.tmp"
        try:
            with open(temporary, "wb") as file:
                file.write(message.as_bytes(policy=SMTP))
                file.flush()
                os.fsync(file.fileno())
            os.replace(temporary, path)
        finally:
            temporary.unlink(missing_ok=True)
        log.info("email %r to %s written to %s", email.subject, email.to, path)
        return message["Message-ID"]


def build_message(email: Email, when: datetime) -> EmailMessage:
    """The email as RFC 5322: multipart/alternative, plain text first, then HTML."""
    message = EmailMessage()
    message["From"] = email.sender
    message["To"] = email.to
    message["Subject"] = email.subject
    message["Date"] = format_datetime(when)
    # An explicit domain: make_msgid would otherwise ask DNS for this host's name.
    domain = parseaddr(email.sender)[1].rpartition("@")[2] or "objecta.local"
    message["Message-ID"] = make_msgid(domain=domain)
    message.set_content(email.text)
    message.add_alternative(email.html, subtype="html")
    return message


def file_name(dedupe_key: str, when: datetime) -> str:
    """`<UTC time>-<key, safe>-<hash>.eml`: sorts by time; the hash keeps keys that sanitize alike apart."""
    safe = _UNSAFE.sub("_", dedupe_key).strip("._")[:80] or "email"
    digest = hashlib.sha256(dedupe_key.encode()).hexdigest()[:10]
    return f"{when.astimezone(timezone.utc):%Y%m%dT%H%M%S%fZ}-{safe}-{digest}.eml"
