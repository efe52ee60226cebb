"""What every benchmark prints last, and how it knows it runs as a smoke test.

A benchmark ends with one machine-readable line, `BENCH_RESULT {json}`: its
name, the figure and the baseline measured in the same run (as text, with
units), the ratio, the target and whether the target was met. `bench/summary.py`
collects these lines into the table `make bench` ends with.

Smoke mode (`--smoke` or `BENCH_SMOKE=1`): tiny sizes, a second or two of load,
to prove the benchmark still runs and still prints its ratio. A smoke run never
judges a speed: its `met` is None.
"""

from __future__ import annotations

import json
import os
import sys

PREFIX = "BENCH_RESULT "


def smoke() -> bool:
    """Whether this run is a smoke run (`--smoke` on the command line or BENCH_SMOKE=1)."""
    if "--smoke" in sys.argv:
        sys.argv.remove("--smoke")
        os.environ["BENCH_SMOKE"] = "1"
    return os.environ.get("BENCH_SMOKE", "") not in ("", "0")


def report(name: str, *, figure: str, baseline: str, ratio: float, target: str, met: bool | None,
           note: str = "") -> None:
    """Print the result line; `met` is forced to None in smoke mode."""
    line = {"name": name, "figure": figure, "baseline": baseline, "ratio": round(ratio, 3), "target": target,
            "met": None if smoke() else met, "note": note}
    print(PREFIX + json.dumps(line), flush=True)


def skipped(name: str, reason: str) -> None:
    """A benchmark that could not run here (e.g. wrk missing), said the same machine-readable way."""
    print(PREFIX + json.dumps({"name": name, "skipped": reason}), flush=True)


def without_rate_limits() -> None:
    """Raise every rate limit out of reach for this process and the servers it starts: a benchmark
    measures throughput, and the limits (objecta/settings.py) would answer it 429."""
    from objecta.settings import RATE_LIMIT_DEFAULTS

    os.environ.update({f"RATE_LIMIT_{name.upper()}": "1000000000/60" for name in RATE_LIMIT_DEFAULTS})
