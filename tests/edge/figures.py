"""What the schemathesis run measured, printed at the end of the suite (and so in CI's output)."""

from __future__ import annotations

SCHEMATHESIS: list[str] = []
