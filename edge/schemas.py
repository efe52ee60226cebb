"""Shape checks shared by every routes module: strict structs and common fields.

Every string the edge reads (body fields, dict keys, query parameters, headers
that reach the database) is declared with `Clean` or `NO_NUL`:
tests/edge/test_contract.py fails for a string in the OpenAPI document without it.
"""

from __future__ import annotations

from typing import Annotated, Any, TypeVar

import msgspec
from litestar.params import Parameter

# Postgres refuses U+0000 in text and jsonb; refused here it is a 400 naming the field before any
# database work, and the pattern shows in the OpenAPI document. Lone surrogates never get this far:
# msgspec refuses them as invalid JSON.
NO_NUL = r"^[^\u0000]*$"
Clean = msgspec.Meta(pattern=NO_NUL)


def Described(description: str) -> msgspec.Meta:  # noqa: N802 - reads as a type annotation
    """A field's meaning in the OpenAPI document, where its name does not say it all."""
    return msgspec.Meta(description=description)


T = TypeVar("T")


def out(value: Any, shape: type[T]) -> T:
    """A response `shape` filled from `value`'s attributes by name (nested structs and pages too)."""
    return msgspec.convert(value, shape, from_attributes=True)


class Body(msgspec.Struct, forbid_unknown_fields=True):
    """Base of every request body: an unknown field is a 400, never silently dropped."""


Name = Annotated[str, Clean, msgspec.Meta(min_length=1, max_length=200)]
Email = Annotated[str, Clean, msgspec.Meta(min_length=3, max_length=254)]
# The domain enforces the real rules; this only bounds what we read.
Password = Annotated[str, Clean, msgspec.Meta(min_length=1, max_length=4096)]
Text = Annotated[str, Clean, msgspec.Meta(max_length=20_000)]
Token = Annotated[str, Clean, msgspec.Meta(min_length=1, max_length=4096)]

# Query parameters: Litestar applies (and documents) constraints given as `Parameter`, not `msgspec.Meta`.
Limit = Annotated[int, Parameter(ge=1, le=100, description="How many items a page holds at most.")]
Cursor = Annotated[str | None, Parameter(
    pattern=NO_NUL, max_length=500,
    description="The `next_cursor` of the previous page; absent for the first page.")]
