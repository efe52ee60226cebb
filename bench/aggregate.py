"""Benchmark: the nightly roll-up of one day against a raw GROUP BY over the same rows, same run.

    make bench            (1,000,000 events: 100 organizations × 50 agents)
    .venv/bin/python bench/aggregate.py --events 10000000 --orgs 1000 --agents 50   (the issue's size)
    make bench-smoke      (--smoke or BENCH_SMOKE=1: 10,000 events, to prove it still runs)

Starts the embedded Postgres (or uses DATABASE_URL), writes one UTC day of
events into `analytics_events` with SQL (generate_series, as the owner), then
times, in this order and twice each (the better run counts, so both read a
warm cache):
- raw: `select org_id, agent_id, count(*), ... from analytics_events where <the day> group by org_id,
  agent_id` as the owner (no row-level security, nothing written);
- job: `domain.analytics.reports.aggregate_day`, what `analytics.aggregate_daily` runs, as the
  application role in the system scope (row-level security on, both rollups upserted).
Prints both times and `ratio=<raw time / job time>` (1.0: the job costs nothing beyond the scan).
"""

from __future__ import annotations

import argparse
import asyncio
import os
import shutil
import sys
import tempfile
import time
from datetime import date, datetime, timedelta, timezone
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from bench.result import report, smoke  # noqa: E402

DAY = date(2026, 11, 2)

FILL = """
with o as (select array_agg(id order by n) as ids from bench_orgs),
     a as (select array_agg(id order by n) as ids from bench_agents)
insert into analytics_events (org_id, event_id, name, agent_id, occurred_at, received_at, properties, batch_id)
select o.ids[1 + g %% %(orgs)s], md5(g::text),
       (array['page.view', 'message.created', 'conversation.created', 'agent.error', 'agent.deployed',
              'signup'])[1 + g %% 6],
       a.ids[1 + (g / %(orgs)s) %% %(agents)s], %(start)s::timestamptz + (g %% 86400) * interval '1 second',
       now(), null, o.ids[1 + g %% %(orgs)s]
from generate_series(1, %(events)s) g, o, a
"""

RAW = """
select org_id, agent_id, count(*), count(*) filter (where name = 'message.created'),
       count(*) filter (where name = 'conversation.created'), count(*) filter (where name = 'agent.error'),
       count(*) filter (where name = 'agent.deployed'), max(occurred_at)
from analytics_events where occurred_at >= %(start)s and occurred_at < %(end)s
group by org_id, agent_id
"""


def main() -> int:
    tiny = smoke()
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--events", type=int, default=10_000 if tiny else 1_000_000)
    parser.add_argument("--orgs", type=int, default=10 if tiny else 100)
    parser.add_argument("--agents", type=int, default=5 if tiny else 50)
    args = parser.parse_args()

    import psycopg

    from domain.analytics import reports
    from domain.db import Database
    from objecta import embedded
    from objecta import settings as settings_module
    from objecta.launcher import backing_services
    from objecta.migrate import migrate

    home = Path(tempfile.mkdtemp(prefix="objecta-bench-aggregate-"))
    os.environ.update({"OBJECTA_HOME": str(home), "OBJECTA_ENV": "test", "LOG_LEVEL": "WARNING",
                       "STRIPE_SECRET_KEY": os.environ.get("STRIPE_SECRET_KEY", "sk_test_bench_unused"),
                       "EMBEDDED_POSTGRES_PORT": str(embedded.free_port()),
                       "EMBEDDED_REDIS_PORT": str(embedded.free_port()),
                       "EMBEDDED_STRIPE_PORT": str(embedded.free_port())})
    start = datetime(DAY.year, DAY.month, DAY.day, tzinfo=timezone.utc)
    with backing_services(settings_module.load()) as (settings, _):
        migrate(settings)
        owner = psycopg.connect(settings.database.url, autocommit=True)
        owner.execute("select analytics_ensure_partition(%s)", (DAY,))
        began = time.monotonic()
        owner.execute("create temp table bench_orgs as select n, gen_random_uuid() as id "
                      "from generate_series(0, %s - 1) n", (args.orgs,))
        owner.execute("create temp table bench_agents as select n, gen_random_uuid() as id "
                      "from generate_series(0, %s - 1) n", (args.agents,))
        owner.execute("insert into organizations (id, name) select id, 'bench ' || n from bench_orgs")
        owner.execute(FILL, {"start": start, "events": args.events, "orgs": args.orgs, "agents": args.agents})
        owner.execute("vacuum analyze analytics_events")
        print(f"bench: {args.events} events of {DAY} ({args.orgs} organizations × {args.agents} agents) written "
              f"in {time.monotonic() - began:.1f}s")

        def raw() -> float:
            began = time.monotonic()
            groups = owner.execute(RAW, {"start": start, "end": start + timedelta(days=1)}).fetchall()
            assert groups, "no rows"
            return time.monotonic() - began

        async def job_once() -> tuple[float, object]:
            db = Database(settings.database.app_url, 1)
            try:
                began = time.monotonic()
                async with db.transaction(system=True) as session:
                    summary = await reports.aggregate_day(session, DAY)
                return time.monotonic() - began, summary
            finally:
                await db.dispose()

        raw_time = min(raw(), raw())
        job_times = [asyncio.run(job_once()) for _ in range(2)]
        job_time, summary = min(job_times, key=lambda pair: pair[0])
        assert summary.events == args.events, summary
        owner.close()
        print(f"raw GROUP BY (owner, read only):          {raw_time:7.2f} s ({args.events / raw_time:,.0f} events/s)")
        print(f"aggregate_day (app role, RLS, 2 upserts): {job_time:7.2f} s ({args.events / job_time:,.0f} events/s;"
              f" {summary.organizations} organizations, {summary.agent_rows} agent rows)")
        ratio = raw_time / job_time
        print(f"ratio={ratio:.3f}")
        report("aggregate", figure=f"{job_time:.2f} s job ({args.events:,} events)",
               baseline=f"{raw_time:.2f} s GROUP BY", ratio=ratio, target=">= 0.8", met=ratio >= 0.8)
    shutil.rmtree(home, ignore_errors=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
