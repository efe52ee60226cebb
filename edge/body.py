"""The one path request bodies are decoded through: nesting is bounded before the decoder recurses.

msgspec decodes nested JSON recursively; about a thousand levels deep it raises
RecursionError, which would be a 500. No body of this API nests more than a
few levels, so anything deeper than `MAX_JSON_DEPTH` is refused with a 400
after a scan that never recurses.
"""

from __future__ import annotations

from itertools import accumulate
from typing import Any

from litestar import Request
from litestar.exceptions import ValidationException

MAX_JSON_DEPTH = 32

# Opening brackets become 1 and closing ones -1 (0xff read as a signed byte); everything else goes.
_STEPS = bytes.maketrans(b"[{]}", b"\x01\x01\xff\xff")
_NOT_A_BRACKET = bytes(b for b in range(256) if b not in b"[]{}")


def too_deep(body: bytes, limit: int = MAX_JSON_DEPTH) -> bool:
    """Whether the arrays and objects of a JSON text nest deeper than `limit`.

    Every step runs in C (count, replace, split, translate, accumulate), so a
    1 MiB body costs milliseconds; nothing recurses.
    """
    if body.count(b"[") + body.count(b"{") <= limit:
        return False  # almost every body: it cannot nest deeper than it has brackets
    # Brackets inside strings nest nothing. With escaped backslashes and quotes gone, every other
    # piece between quotes is outside a string.
    unescaped = body.replace(b"\\\\", b"").replace(b'\\"', b"")
    steps = b"".join(unescaped.split(b'"')[0::2]).translate(_STEPS, _NOT_A_BRACKET)
    if len(steps) <= limit:
        return False
    return max(accumulate(memoryview(steps).cast("b"))) > limit


class ApiRequest(Request):
    """Litestar's request, whose JSON decoding first refuses bodies nested deeper than `MAX_JSON_DEPTH`."""

    async def json(self) -> Any:
        body = await self.body()
        if too_deep(body):
            message = f"the JSON body is nested deeper than {MAX_JSON_DEPTH} levels"
            raise ValidationException(detail=message, extra=[{"message": message, "source": "body"}])
        return await super().json()
