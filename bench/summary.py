"""Run every benchmark and end with one table: name, figure, baseline, ratio, target, met.

Benchmarks: commands, workers, notifications, events, aggregate, idle, relay (`BENCHMARKS`).

    .venv/bin/python bench/summary.py            (make bench: full size)
    .venv/bin/python bench/summary.py --smoke    (make bench-smoke: a second or two each)

Each benchmark runs in its own process; its last `BENCH_RESULT {...}` line
(bench/result.py) is its row. A full run runs them one after the other, output
passed through as it comes, so no benchmark measures beside another. A smoke
run measures nothing worth comparing, so it runs three lanes at once
(`SMOKE_LANES`: `objecta up` alone takes ~20 s to start and stop, and the idle
benchmark starts it twice) and prints each benchmark's output when it ends:
about 50 s in all here.
Exit status 1 when a benchmark did not run, failed, or printed no ratio:
a benchmark that rots fails here. A target not met is reported, never an
error, and a smoke run judges no speed at all. A benchmark that cannot run on
this machine says why (`skipped: wrk missing`): in smoke mode that is not a
failure, in a full run it is.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import threading
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from bench.result import PREFIX, smoke  # noqa: E402

BENCHMARKS = ("commands", "workers", "notifications", "events", "aggregate", "idle", "relay")
SMOKE_LANES = (("notifications", "aggregate", "relay"), ("commands", "events", "workers"), ("idle",))
SMOKE_TIMEOUT = 120  # seconds per benchmark; a smoke run takes a few
SHARED_SERVERS = ("DATABASE_URL", "APP_DATABASE_URL", "REDIS_URL", "BROKER_URL")
_print = threading.Lock()


def run(name: str, smoke_run: bool) -> tuple[dict, float]:
    command = [sys.executable, str(ROOT / "bench" / f"{name}.py"), *(["--smoke"] if smoke_run else [])]
    started = time.monotonic()
    found: dict = {}
    held: list[str] = [f"==> {' '.join(command[1:])}\n"]
    if not smoke_run:
        print(held.pop(), end="", flush=True)
    env = {**os.environ, "PYTHONUNBUFFERED": "1"}
    if smoke_run:
        # Each smoke run on embedded servers of its own, whatever CI's configuration points at: the
        # benchmarks count rows in whole tables, and two lanes run at once.
        for variable in SHARED_SERVERS:
            env.pop(variable, None)
    process = subprocess.Popen(command, cwd=ROOT, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True,
                               env=env)
    try:
        for line in process.stdout:
            if smoke_run:
                held.append(line)
            else:
                print(line, end="", flush=True)
            if line.startswith(PREFIX):
                found = json.loads(line[len(PREFIX):])
        status = process.wait(SMOKE_TIMEOUT if smoke_run else None)
    except subprocess.TimeoutExpired:
        process.kill()
        process.wait()
        status = "timed out"
    elapsed = time.monotonic() - started
    with _print:
        print("".join(held), end="", flush=True)
    if "skipped" in found:
        found["status"] = "skipped"
    elif status != 0 or "ratio" not in found:
        found = {**found, "name": found.get("name", name), "status": "failed",
                 "error": f"exit {status}" + ("" if "ratio" in found else ", no ratio printed")}
    else:
        found["status"] = "ran"
    found.setdefault("name", name)
    return found, elapsed


def table(rows: list[tuple[dict, float]]) -> str:
    head = ("benchmark", "figure", "baseline", "ratio", "target", "met", "seconds")
    lines = [head]
    for row, elapsed in rows:
        if row["status"] == "skipped":
            lines.append((row["name"], f"skipped: {row['skipped']}", "", "", "", "", f"{elapsed:.0f}"))
        elif row["status"] == "failed":
            lines.append((row["name"], f"FAILED ({row['error']})", "", "", "", "", f"{elapsed:.0f}"))
        else:
            met = {True: "yes", False: "no", None: "(smoke)"}[row["met"]]
            lines.append((row["name"], row["figure"], row["baseline"], f"{row['ratio']:.3f}", row["target"], met,
                          f"{elapsed:.0f}"))
    widths = [max(len(str(line[i])) for line in lines) for i in range(len(head))]
    out = [" | ".join(str(cell).ljust(width) for cell, width in zip(line, widths)) for line in lines]
    out.insert(1, "-+-".join("-" * width for width in widths))
    return "\n".join(out)


def main() -> int:
    smoke_run = smoke()
    names = [a for a in sys.argv[1:] if not a.startswith("-")] or list(BENCHMARKS)
    if smoke_run and not sys.argv[1:]:
        results: dict[str, tuple[dict, float]] = {}
        lanes = [threading.Thread(target=lambda lane=lane: results.update({n: run(n, True) for n in lane}))
                 for lane in SMOKE_LANES]
        for lane in lanes:
            lane.start()
        for lane in lanes:
            lane.join()
        rows = [results[name] for name in BENCHMARKS]
    else:
        rows = [run(name, smoke_run) for name in names]
    print()
    print(table(rows))
    for row, _ in rows:
        if row.get("note"):
            print(f"{row['name']}: {row['note']}")
    failed = [row["name"] for row, _ in rows
              if row["status"] == "failed" or (row["status"] == "skipped" and not smoke_run)]
    if failed:
        print(f"bench: {', '.join(failed)} did not run to the end", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
