"""Shape checks shared by every routes module: strict structs and common fields."""

from __future__ import annotations

from typing import Annotated

import msgspec


class Body(msgspec.Struct, forbid_unknown_fields=True):
    """Base of every request body: an unknown field is a 400, never silently dropped."""


Name = Annotated[str, msgspec.Meta(min_length=1, max_length=200)]
Email = Annotated[str, msgspec.Meta(min_length=3, max_length=254)]
# The domain enforces the real rules; this only bounds what we read.
Password = Annotated[str, msgspec.Meta(min_length=1, max_length=4096)]
Text = Annotated[str, msgspec.Meta(max_length=20_000)]
Limit = Annotated[int, msgspec.Meta(ge=1, le=100)]
