"""Organization API keys: made by owners and admins, shown once, stored as a hash, good for sending events only.

A key looks like `obk_` followed by 43 URL-safe characters (256 random
bits), so the edge tells it from a person's JWT by its prefix alone. Being
random and long, a single SHA-256 is enough to store it: there is nothing to
brute-force that a slow hash would protect.
"""

from __future__ import annotations

import hashlib
import secrets
import uuid
from datetime import timedelta

from sqlalchemy.ext.asyncio import AsyncSession

from domain.analytics import repository
from domain.analytics.errors import ApiKeyNotFound, InvalidApiKey
from domain.analytics.models import ApiKey, Sender
from domain.db import bind_tenant
from domain.models import utcnow

KEY_PREFIX = "obk_"
SHOWN = 12  # characters of a key kept for lists: "obk_" and eight more


def is_api_key(token: str) -> bool:
    return token.startswith(KEY_PREFIX)


def key_hash(secret: str) -> str:
    return hashlib.sha256(secret.encode()).hexdigest()


async def create_key(session: AsyncSession, org_id: uuid.UUID, created_by: uuid.UUID, name: str) -> tuple[ApiKey, str]:
    """A new key and its secret; the secret is returned this once and never stored."""
    secret = KEY_PREFIX + secrets.token_urlsafe(32)
    key = ApiKey(id=uuid.uuid4(), org_id=org_id, name=name.strip(), prefix=secret[:SHOWN], key_hash=key_hash(secret),
                 created_by=created_by)
    session.add(key)
    await session.flush()
    return key, secret


async def list_keys(session: AsyncSession, org_id: uuid.UUID) -> list[ApiKey]:
    return await repository.list_keys(session, org_id)


async def revoke_key(session: AsyncSession, key_id: uuid.UUID) -> None:
    """Revoke a key for good (idempotent); requests with it are refused from now on."""
    if not await repository.revoke_key(session, key_id, utcnow()):
        raise ApiKeyNotFound("API key not found")


async def authenticate(session: AsyncSession, secret: str) -> Sender:
    """The organization a key sends for; binds the transaction to it. Unknown and revoked keys get one answer."""
    key = await repository.key_by_hash(session, key_hash(secret))
    if key is None or key.revoked_at is not None:
        raise InvalidApiKey("this API key is not valid (unknown or revoked)")
    await bind_tenant(session, org_id=key.org_id)
    # The key row was just read: skip the round trip when its last use is recent anyway
    # (touch_key writes at most once a minute; a busy server sends many batches a second).
    if key.last_used_at is None or key.last_used_at < utcnow() - timedelta(minutes=1):
        await repository.touch_key(session, key.id)
    return Sender(org_id=key.org_id, api_key_id=key.id)
