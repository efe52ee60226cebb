"""All SQL of the analytics capability.

Row-level security scopes every statement to the transaction's organization
(or, for the nightly jobs, to the system scope); explicit org filters are for
the planner. Events reach Postgres once, in the accepting transaction: one
statement expands the batch in Postgres and stores the ones never seen before
(see `STORE`).
"""

from __future__ import annotations

import uuid
from collections.abc import Iterable, Sequence
from datetime import date, datetime

from sqlalchemy import select, text, update
from sqlalchemy.ext.asyncio import AsyncSession

from domain.analytics.models import AGENT_ERROR, CONVERSATION, DEPLOY, MESSAGE, ApiKey
from domain.db import FirstRead, read_rows

# ---------------------------------------------------------------- API keys


async def key_by_hash(session: AsyncSession, key_hash: str) -> ApiKey | None:
    """The key whose hash the caller holds, in any organization (the `key_lookup` policy lets exactly it through)."""
    await session.execute(text("select set_config('app.api_key_hash', :h, true)"), {"h": key_hash})
    return (await session.execute(select(ApiKey).where(ApiKey.key_hash == key_hash))).scalar_one_or_none()


async def touch_key(session: AsyncSession, key_id: uuid.UUID) -> None:
    # At most one write a minute per key: `last_used_at` is for people, not an audit log.
    await session.execute(text(
        "update api_keys set last_used_at = now() where id = :id "
        "and (last_used_at is null or last_used_at < now() - interval '1 minute')"), {"id": key_id})


async def list_keys(session: AsyncSession, org_id: uuid.UUID) -> list[ApiKey]:
    query = select(ApiKey).where(ApiKey.org_id == org_id).order_by(ApiKey.created_at.desc(), ApiKey.id)
    return list((await session.execute(query)).scalars())


async def revoke_key(session: AsyncSession, key_id: uuid.UUID, now: datetime) -> bool:
    found = await session.execute(select(ApiKey.id).where(ApiKey.id == key_id))
    if found.scalar_one_or_none() is None:
        return False
    await session.execute(update(ApiKey).where(ApiKey.id == key_id, ApiKey.revoked_at.is_(None)).values(revoked_at=now))
    return True


# ---------------------------------------------------------------- accepting and storing


async def known_agents(session: AsyncSession, agent_ids: Iterable[uuid.UUID]) -> set[uuid.UUID]:
    """Which of these agents exist in the transaction's organization (another's are invisible)."""
    ids = list(agent_ids)
    if not ids:
        return set()
    rows = await session.execute(text("select id from agents where id = any(:ids)"), {"ids": ids})
    return set(rows.scalars())


# Events expand in Postgres from the batch's JSON (StoredEvent arrays). Only events whose
# (organization, event_id) is new get a row in analytics_event_ids, and only those are copied
# into analytics_events. A concurrent batch carrying the same event_id waits on the primary
# key until this transaction ends, then skips it; batches list their events in event_id order,
# so two of them never wait on each other in a cycle.
_EXPAND = """
    select (e->>0) collate "C" as event_id, e->>1 as name, (e->>2)::uuid as agent_id,
           (e->>3)::timestamptz as occurred_at, nullif(e->4, 'null'::jsonb) as properties"""
_STORE_NEW = """
), fresh as (
    insert into analytics_event_ids (org_id, event_id, occurred_at)
    select :org, event_id, occurred_at from batch
    on conflict do nothing
    returning event_id
), stored as (
    insert into analytics_events (org_id, event_id, name, agent_id, occurred_at, received_at, properties, batch_id)
    select :org, s.event_id, s.name, s.agent_id, s.occurred_at, :received, s.properties, :batch
    from batch s join fresh using (event_id)
    returning name, agent_id, occurred_at
), counts as (
    select to_char(occurred_at at time zone 'UTC', 'YYYY-MM-DD') as day,
           extract(hour from occurred_at at time zone 'UTC')::int as hour,
           name, coalesce(agent_id::text, '') as agent, count(*)::int as n
    from stored group by 1, 2, 3, 4
)"""
_COUNTS_JSON = "(select coalesce(jsonb_agg(jsonb_build_array(day, hour, name, agent, n)), '[]') from counts)"

# The accepting transaction stores the batch (decision 124): the events, and the batch row that
# remembers what was new until the events worker has counted it. No copy of the events is kept:
# once this commits they are in analytics_events, which is as durable as a copy would be.
STORE = f"""
with batch as materialized ({_EXPAND}
    from jsonb_array_elements(cast(:events as jsonb)) e
{_STORE_NEW}, kept as (
    insert into event_batches (id, org_id, received_at, event_count, ingested_at, counts)
    values (:batch, :org, :received, :n, now(), {_COUNTS_JSON})
)
select day, hour, name, agent, n from counts
"""

# A batch kept as a durable copy by an edge from before decision 124 (a rolling upgrade):
# the worker expands the copy the same way and records what was new on the row.
MOVE = f"""
with batch as materialized ({_EXPAND}
    from event_batches b, jsonb_array_elements(b.events::jsonb) e
    where b.id = :batch
{_STORE_NEW}, ingested as (
    update event_batches set ingested_at = now(), counts = {_COUNTS_JSON} where id = :batch
)
select day, hour, name, agent, n from counts
"""


async def store_batch(session: AsyncSession, *, batch_id: uuid.UUID, org_id: uuid.UUID, received_at: datetime,
                      event_count: int, events: str) -> list[list]:
    """Store a batch's new events and its row, marked ingested with what was new; the stored ones
    grouped [day, hour, name, agent, n]. `events` is the JSON of StoredEvent arrays."""
    rows = await session.execute(text(STORE), {"batch": batch_id, "org": org_id, "received": received_at,
                                               "n": event_count, "events": events})
    return [list(row) for row in rows]


async def lock_batch(session: AsyncSession, batch_id: uuid.UUID):
    """The batch row, locked: a redelivery of the same batch waits here for the first to finish."""
    rows = await session.execute(text(
        "select org_id, received_at, ingested_at, counts from event_batches where id = :id for update"),
        {"id": batch_id})
    return rows.first()


async def store_events(session: AsyncSession, *, batch_id: uuid.UUID, org_id: uuid.UUID,
                       received_at: datetime) -> list[list]:
    """Move the new events of a batch kept as a copy (see MOVE) and mark it ingested with what was new."""
    rows = await session.execute(text(MOVE), {"org": org_id, "received": received_at, "batch": batch_id})
    return [list(row) for row in rows]


async def batch_months(session: AsyncSession, batch_id: uuid.UUID) -> list[date]:
    """The months a batch's events fall in (to create missing partitions)."""
    rows = await session.execute(text(
        "select distinct date_trunc('month', (e->>3)::timestamptz at time zone 'UTC')::date "
        "from event_batches b, jsonb_array_elements(b.events::jsonb) e where b.id = :batch order by 1"),
        {"batch": batch_id})
    return list(rows.scalars())


async def mark_stale(session: AsyncSession, org_id: uuid.UUID, days: Iterable[str]) -> None:
    await session.execute(text(
        "insert into analytics_stale_days (org_id, day) select :org, d from unnest(cast(:days as date[])) d "
        "on conflict (org_id, day) do update set marked_at = now()"),
        {"org": org_id, "days": [date.fromisoformat(d) for d in days]})


def delete_batch_first(batch_id: uuid.UUID) -> FirstRead:
    """The batch's delete as its finishing transaction's first statement, sent with BEGIN: nothing in that
    transaction depends on it, and a repeat deletes nothing."""
    return FirstRead("delete from event_batches where id = %(id)s returning id", (("id", batch_id),))


async def delete_batch(session: AsyncSession, batch_id: uuid.UUID) -> None:
    await read_rows(session, delete_batch_first(batch_id))


async def stale_batches(session: AsyncSession, older_than: datetime, limit: int) -> list[tuple[uuid.UUID, uuid.UUID]]:
    """Batches received (or last re-sent) before `older_than`, marked re-sent now."""
    rows = await session.execute(text("""
        update event_batches set swept_at = now() where id in (
            select id from event_batches where received_at < :before and coalesce(swept_at, received_at) < :before
            order by received_at limit :limit for update skip locked)
        returning id, org_id"""), {"before": older_than, "limit": limit})
    return [(row.id, row.org_id) for row in rows]


async def ensure_partition(session: AsyncSession, day: date) -> str:
    """The month's partition, created if missing (by the owner's SECURITY DEFINER function)."""
    return (await session.execute(text("select analytics_ensure_partition(:d)"), {"d": day})).scalar_one()


async def drop_partitions(session: AsyncSession, cutoff: date) -> list[str]:
    return list((await session.execute(text("select analytics_drop_partitions(:d)"), {"d": cutoff})).scalars())


async def prune_event_ids(session: AsyncSession, before: date, limit: int) -> int:
    result = await session.execute(text(
        "delete from analytics_event_ids where ctid = any(array("
        "select ctid from analytics_event_ids where occurred_at < :before limit :limit))"),
        {"before": before, "limit": limit})
    return result.rowcount


# ---------------------------------------------------------------- counters and alerts


async def day_so_far(session: AsyncSession, org_id: uuid.UUID, start: datetime, end: datetime):
    """One snapshot: the day's events grouped by (name, agent), and the batches stored but maybe not counted."""
    row = (await session.execute(text("""
        select
          (select coalesce(json_agg(json_build_array(name, agent, n)), '[]') from (
              select name, coalesce(agent_id::text, '') as agent, count(*) as n from analytics_events
              where org_id = :org and occurred_at >= :start and occurred_at < :end group by name, agent_id) c
          ) as counts,
          (select coalesce(array_agg(id::text), '{}') from event_batches
           where org_id = :org and ingested_at is not null) as pending
    """), {"org": org_id, "start": start, "end": end})).one()
    return row.counts, list(row.pending)


async def record_alert(session: AsyncSession, org_id: uuid.UUID, agent_id: uuid.UUID, hour: datetime) -> bool:
    result = await session.execute(text(
        "insert into analytics_alerts (org_id, agent_id, hour) values (:org, :agent, :hour) "
        "on conflict do nothing"), {"org": org_id, "agent": agent_id, "hour": hour})
    return result.rowcount == 1


async def prune_alerts(session: AsyncSession, before: datetime) -> None:
    await session.execute(text("delete from analytics_alerts where hour < :before"), {"before": before})


async def agent_name(session: AsyncSession, agent_id: uuid.UUID) -> str | None:
    return (await session.execute(text("select name from agents where id = :id"), {"id": agent_id})).scalar()


# ---------------------------------------------------------------- roll-up and reports

COUNTS = f"""count(*) as events,
           count(*) filter (where name = '{MESSAGE}') as messages,
           count(*) filter (where name = '{CONVERSATION}') as conversations,
           count(*) filter (where name = '{AGENT_ERROR}') as errors,
           count(*) filter (where name = '{DEPLOY}') as deploys"""
METRICS = ("events", "messages", "conversations", "errors", "deploys")
UPDATE_METRICS = ", ".join(f"{m} = excluded.{m}" for m in METRICS)

# One scan of the day (CREATE TABLE AS may run in parallel, a data-modifying CTE may not),
# then both roll-ups from that small per-agent result. CREATE TABLE AS takes no bind
# parameters: the bounds are literals rendered from date and uuid values, never from text.
PER_AGENT = f"""
create temp table analytics_day on commit drop as
select org_id, agent_id, {COUNTS}, max(occurred_at) as last_event_at
from analytics_events
where occurred_at >= timestamptz '{{start}}' and occurred_at < timestamptz '{{end}}' {{orgs}}
group by org_id, agent_id
"""
ROLL_UP = f"""
with agents as (
    insert into agent_metrics (org_id, day, agent_id, {", ".join(METRICS)}, last_event_at)
    select org_id, :day, agent_id, {", ".join(METRICS)}, last_event_at from analytics_day where agent_id is not null
    on conflict (org_id, day, agent_id) do update set {UPDATE_METRICS},
        last_event_at = excluded.last_event_at, aggregated_at = now()
    returning 1
), days as (
    insert into daily_metrics (org_id, day, {", ".join(METRICS)}, active_agents)
    select org_id, :day, {", ".join(f"sum({m})" for m in METRICS)}, count(agent_id)
    from analytics_day group by org_id
    on conflict (org_id, day) do update set {UPDATE_METRICS},
        active_agents = excluded.active_agents, aggregated_at = now()
    returning events
)
select (select count(*) from days) as organizations, (select count(*) from agents) as agents,
       (select coalesce(sum(events), 0) from days) as events
"""


async def roll_up_day(session: AsyncSession, day: date, start: datetime, end: datetime,
                      org_ids: Sequence[uuid.UUID] | None = None) -> tuple[int, int, int]:
    """Fill daily_metrics and agent_metrics for `day` (every organization, or these); (orgs, agent rows, events)."""
    orgs = ""
    if org_ids is not None:
        orgs = "and org_id in ({})".format(", ".join(f"'{uuid.UUID(str(o))}'" for o in org_ids) or "null")
    connection = await session.connection()
    await connection.exec_driver_sql(PER_AGENT.format(start=start.isoformat(), end=end.isoformat(), orgs=orgs))
    row = (await session.execute(text(ROLL_UP), {"day": day})).one()
    await session.execute(text("drop table analytics_day"))
    return row.organizations, row.agents, int(row.events)


async def take_stale_days(session: AsyncSession, limit: int) -> list[tuple[uuid.UUID, date]]:
    """Remove and return up to `limit` (organization, day) pairs to roll up again, oldest first."""
    rows = await session.execute(text("""
        delete from analytics_stale_days where (org_id, day) in (
            select org_id, day from analytics_stale_days order by day, org_id limit :limit for update skip locked)
        returning org_id, day"""), {"limit": limit})
    return [(row.org_id, row.day) for row in rows]


async def daily_series(session: AsyncSession, org_id: uuid.UUID, first: date, last: date) -> list[dict]:
    rows = await session.execute(text(f"""
        select d::date as day, {", ".join(f"coalesce(m.{m}, 0) as {m}" for m in METRICS)},
               coalesce(m.active_agents, 0) as active_agents
        from generate_series(cast(:first as date), cast(:last as date), interval '1 day') d
        left join daily_metrics m on m.org_id = :org and m.day = d::date
        order by d"""), {"org": org_id, "first": first, "last": last})
    return [dict(row) for row in rows.mappings()]


AGENT_SORTS = (*METRICS, "active_days", "last_event_at")


async def agents_table(session: AsyncSession, org_id: uuid.UUID, first: date, last: date, sort: str,
                       descending: bool) -> list[dict]:
    if sort not in AGENT_SORTS:
        raise ValueError(sort)  # the service checks; never interpolate anything else
    rows = await session.execute(text(f"""
        select m.agent_id, a.name, {", ".join(f"sum(m.{m})::bigint as {m}" for m in METRICS)},
               count(*) as active_days, max(m.last_event_at) as last_event_at
        from agent_metrics m left join agents a on a.id = m.agent_id
        where m.org_id = :org and m.day between :first and :last
        group by m.agent_id, a.name
        order by {sort} {"desc" if descending else "asc"}, m.agent_id"""),
        {"org": org_id, "first": first, "last": last})
    return [dict(row) for row in rows.mappings()]
