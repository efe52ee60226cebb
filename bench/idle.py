"""Benchmark: what the whole stack costs at rest.

    .venv/bin/python bench/idle.py [--seconds 30] [--smoke]

Starts `objecta up` (embedded Postgres and Valkey, edge, relay, one worker
process for every queue, scheduler) in a temporary home, lets it settle, then
sums the CPU time of every process of the stack over the window (from
/proc: user + system of each process). Nothing sends anything.

Baseline, same run: the same stack with `BROKER_IDLE_WAIT_MS=0`, i.e. the
Redis-broker consumers polling with Dramatiq's backoff as they did before
decision 112. Prints both in % of one core and `ratio=<baseline / stack>`
(how many times less the stack burns at rest). Target: the stack under 10 %.
"""

from __future__ import annotations

import argparse
import os
import signal
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from bench.notifications import start_stack  # noqa: E402
from bench.result import report, smoke  # noqa: E402

TICK = os.sysconf("SC_CLK_TCK")


def tree(root: int) -> list[int]:
    children: dict[int, list[int]] = {}
    for entry in os.listdir("/proc"):
        if entry.isdigit():
            try:
                stat = Path(f"/proc/{entry}/stat").read_text()
            except OSError:
                continue
            children.setdefault(int(stat[stat.rfind(")") + 2:].split()[1]), []).append(int(entry))
    found, todo = [], [root]
    while todo:
        pid = todo.pop()
        found.append(pid)
        todo += children.get(pid, [])
    return found


def cpu_seconds(pids: list[int]) -> dict[int, float]:
    used = {}
    for pid in pids:
        try:
            stat = Path(f"/proc/{pid}/stat").read_text()
        except OSError:
            continue
        fields = stat[stat.rfind(")") + 2:].split()
        used[pid] = (int(fields[11]) + int(fields[12])) / TICK
    return used


def at_rest(seconds: float, settle: float, **env: str) -> float:
    """% of one core the whole stack used over `seconds`, after `settle` seconds of quiet."""
    with tempfile.TemporaryDirectory(prefix="objecta-bench-idle-") as home:
        process, _ = start_stack(Path(home), env)
        try:
            time.sleep(settle)
            before = cpu_seconds(tree(process.pid))
            time.sleep(seconds)
            after = cpu_seconds(tree(process.pid))
            # A process that started inside the window counts for what it used in it.
            used = sum(after[pid] - before.get(pid, 0.0) for pid in after)
            return 100 * used / seconds
        finally:
            process.send_signal(signal.SIGINT)
            process.wait(60)


def main() -> None:
    smoke()  # --smoke / BENCH_SMOKE=1, as every benchmark (bench/result.py)
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seconds", type=float, default=30)
    parser.add_argument("--smoke", action="store_true", help="a two-second window: checks the bench runs")
    args = parser.parse_args()
    seconds, settle = (2.0, 1.0) if args.smoke or os.environ.get("BENCH_SMOKE") else (args.seconds, 5.0)
    stack = at_rest(seconds, settle)
    polling = at_rest(seconds, settle, BROKER_IDLE_WAIT_MS="0")
    print(f"{'stack at rest':28} {stack:6.2f} % of one core over {seconds:.0f} s")
    print(f"{'polling consumers (baseline)':28} {polling:6.2f} %")
    print(f"target: stack < 10 %: {'met' if stack < 10 else 'not met'}")
    print(f"ratio={polling / max(stack, 0.01):.2f}")
    report("idle", figure=f"stack {stack:.1f} % of a core at rest", baseline=f"polling {polling:.1f} %",
           ratio=polling / max(stack, 0.01), target="stack < 10 %", met=stack < 10,
           note="ratio here is polling / stack (how many times less the stack burns at rest)")


if __name__ == "__main__":
    main()
