"""Keyset pagination shared by every list endpoint.

A cursor is the (created_at, id) of the last row a page returned, encoded
opaquely. Ordering by that pair is total, so pages neither skip nor repeat
rows when new ones are inserted while a client pages through.
"""

from __future__ import annotations

import base64
import json
import uuid
from dataclasses import dataclass
from datetime import datetime
from typing import Any, Generic, TypeVar

from sqlalchemy import Select, and_, or_

from domain.errors import InvalidInput

T = TypeVar("T")
MAX_LIMIT = 100


@dataclass(frozen=True)
class Page(Generic[T]):
    items: list[T]
    next_cursor: str | None


def encode_cursor(created_at: datetime, row_id: uuid.UUID) -> str:
    raw = json.dumps([created_at.isoformat(), str(row_id)]).encode()
    return base64.urlsafe_b64encode(raw).decode().rstrip("=")


def decode_cursor(cursor: str) -> tuple[datetime, uuid.UUID]:
    try:
        raw = base64.urlsafe_b64decode(cursor + "=" * (-len(cursor) % 4))
        created_at, row_id = json.loads(raw)
        return datetime.fromisoformat(created_at), uuid.UUID(row_id)
    except (ValueError, TypeError) as e:
        raise InvalidInput("cursor is not one this API returned", details={"field": "cursor"}) from e


def check_limit(limit: int) -> int:
    if not 1 <= limit <= MAX_LIMIT:
        raise InvalidInput(f"limit must be between 1 and {MAX_LIMIT}", details={"field": "limit"})
    return limit


def newest_first(query: Select, model: Any, cursor: str | None, limit: int) -> Select:
    """Order newest first and start after `cursor`; fetch one extra row to know if more exist."""
    if cursor:
        created_at, row_id = decode_cursor(cursor)
        query = query.where(or_(model.created_at < created_at,
                                and_(model.created_at == created_at, model.id < row_id)))
    return query.order_by(model.created_at.desc(), model.id.desc()).limit(check_limit(limit) + 1)


def oldest_first(query: Select, model: Any, cursor: str | None, limit: int) -> Select:
    if cursor:
        created_at, row_id = decode_cursor(cursor)
        query = query.where(or_(model.created_at > created_at,
                                and_(model.created_at == created_at, model.id > row_id)))
    return query.order_by(model.created_at.asc(), model.id.asc()).limit(check_limit(limit) + 1)


def page(rows: list[T], limit: int) -> Page[T]:
    """Cut the extra row fetched by `newest_first`/`oldest_first` into a next cursor."""
    if len(rows) > limit:
        rows = rows[:limit]
        last = rows[-1]
        return Page(rows, encode_cursor(last.created_at, last.id))
    return Page(rows, None)
