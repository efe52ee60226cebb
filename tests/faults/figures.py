"""The figures each fault test measured, printed at the end of the run (and so in CI's output)."""

from __future__ import annotations

import os

MEASURED: list[tuple[str, dict]] = []


def scale(name: str, default: int) -> int:
    """A size of the run: `make chaos` raises them (FAULTS_COMMANDS, FAULTS_KILLS, ...)."""
    return int(os.environ.get(name) or default)


class Figures(dict):
    """What one test measured, in the order it was recorded."""

    def __init__(self, test: str):
        super().__init__()
        MEASURED.append((test, self))
