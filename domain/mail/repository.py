"""All SQL of email deliveries (system scope: an email belongs to no tenant)."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncSession


@dataclass(frozen=True)
class Delivery:
    dedupe_key: str
    recipient: str
    template: str
    status: str  # sending | sent | failed
    attempts: int
    provider_id: str | None
    error: str | None
    created_at: datetime
    sent_at: datetime | None


# A new row, or one whose last attempt failed or never finished; a sent row
# is left alone and returns nothing.
_CLAIM = text("""
    insert into email_deliveries (dedupe_key, recipient, template, status, attempts)
    values (:key, :recipient, :template, 'sending', 1)
    on conflict (dedupe_key) do update
        set status = 'sending', attempts = email_deliveries.attempts + 1, error = null,
            recipient = excluded.recipient, template = excluded.template
        where email_deliveries.status <> 'sent'
    returning attempts
""")


async def lock(session: AsyncSession, dedupe_key: str, idle_timeout_ms: int) -> bool:
    """Try to take the key's lock until `session`'s transaction ends; False if someone holds it.

    The idle timeout makes Postgres end the holder's session, and so free the
    lock, if it sits idle that long: a host that vanished without closing its
    connection cannot keep a key locked for the hours TCP keepalive takes.
    """
    row = await session.execute(text(
        "select set_config('idle_in_transaction_session_timeout', :idle, true), "
        "pg_try_advisory_xact_lock(hashtextextended(:key, 0))"),
        {"key": "email_deliveries:" + dedupe_key, "idle": str(idle_timeout_ms)})
    return bool(row.one()[1])


async def claim(session: AsyncSession, dedupe_key: str, recipient: str, template: str) -> int | None:
    row = await session.execute(_CLAIM, {"key": dedupe_key, "recipient": recipient, "template": template})
    return row.scalar()


async def mark_sent(session: AsyncSession, dedupe_key: str, provider_id: str | None) -> None:
    await session.execute(text("""
        update email_deliveries set status = 'sent', provider_id = :provider_id, error = null, sent_at = now()
        where dedupe_key = :key
    """), {"key": dedupe_key, "provider_id": provider_id})


async def mark_failed(session: AsyncSession, dedupe_key: str, error: str) -> None:
    await session.execute(text(
        "update email_deliveries set status = 'failed', error = :error where dedupe_key = :key and status <> 'sent'"),
        {"key": dedupe_key, "error": error})


async def note_error(session: AsyncSession, dedupe_key: str, error: str) -> None:
    await session.execute(text(
        "update email_deliveries set error = :error where dedupe_key = :key and status = 'sending'"),
        {"key": dedupe_key, "error": error})


async def get(session: AsyncSession, dedupe_key: str) -> Delivery | None:
    row = await session.execute(text("""
        select dedupe_key, recipient, template, status, attempts, provider_id, error, created_at, sent_at
        from email_deliveries where dedupe_key = :key
    """), {"key": dedupe_key})
    found = row.first()
    return Delivery(*found) if found else None
