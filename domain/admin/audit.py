"""The admin audit log: written for every admin action, never changed, verifiable.

Rows are appended only (grants plus a trigger that refuses UPDATE, DELETE and
TRUNCATE even for the owner). Each row's `hash` is SHA-256 over its content
and the previous row's hash, computed by the insert trigger under a lock (see
migration 0013), so the chain is one line. `verify` recomputes every hash here,
in Python, from the columns: a row edited with superuser rights (which can
bypass the trigger) no longer matches, and neither does any row after a
deleted one.
"""

from __future__ import annotations

import hashlib
import uuid
from dataclasses import dataclass
from datetime import datetime

from sqlalchemy.ext.asyncio import AsyncSession

from domain.admin import repository
from domain.admin.models import AuditEntry, AuditRow

GENESIS = "0" * 64
SEPARATOR = "\x1f"  # chr(31), as the trigger joins the columns
BATCH = 1000


async def record(session: AsyncSession, entry: AuditEntry) -> None:
    """Append `entry` (system scope). Callers write it in a transaction of its own, so a failed request
    that rolls back its own work still leaves its audit row."""
    await repository.append_audit(session, entry)


async def entries(session: AsyncSession, *, admin_id: uuid.UUID | None = None, org_id: uuid.UUID | None = None,
                  action: str | None = None, since: datetime | None = None, until: datetime | None = None,
                  before: int | None = None, limit: int = 100) -> list[AuditRow]:
    """Newest first; `before` is the `seq` to continue below (the page cursor)."""
    return await repository.audit_rows(session, admin_id=admin_id, org_id=org_id, action=action, since=since,
                                       until=until, before=before, limit=limit)


@dataclass(frozen=True)
class Verdict:
    rows: int  # rows checked
    first_bad: int | None  # the seq of the first row that does not verify
    reason: str | None


async def verify(session: AsyncSession) -> Verdict:
    """Walk the whole chain in order; stop at the first row whose link or hash is wrong."""
    previous_hash, expected_seq, checked = GENESIS, 1, 0
    while True:
        batch = await repository.audit_chain(session, expected_seq - 1, BATCH)
        if not batch:
            return Verdict(checked, None, None)
        for row in batch:
            seq, *content, prev_hash, stored_hash = row
            if seq != expected_seq:
                return Verdict(checked, seq, f"row {expected_seq} is missing (next is {seq})")
            if prev_hash != previous_hash:
                return Verdict(checked, seq, "its prev_hash is not the previous row's hash")
            computed = hashlib.sha256(SEPARATOR.join([str(seq), *content, prev_hash]).encode()).hexdigest()
            if computed != stored_hash:
                return Verdict(checked, seq, "its content does not match its hash (edited)")
            previous_hash, expected_seq, checked = stored_hash, seq + 1, checked + 1
