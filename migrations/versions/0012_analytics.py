"""Analytics: raw events partitioned by month, the dedupe index, durable batches, rollups, API keys.

Revision ID: 0012
Revises: 0011
Create Date: 2026-11-30

The application role does not own the tables, so it cannot create or drop
partitions itself: two SECURITY DEFINER functions (owned by the migrating
owner) do exactly that and nothing else, and the app role may only execute
them. See docs/analytics.md for the design and docs/decisions.md 60-62.
"""

from alembic import op

from migrations import rls

revision = "0012"
down_revision = "0011"
branch_labels = None
depends_on = None

TENANT_TABLES = ("analytics_event_ids", "event_batches", "analytics_stale_days", "analytics_alerts",
                 "daily_metrics", "agent_metrics", "api_keys")


def upgrade() -> None:
    app = rls.app_role()
    op.execute("""
    -- Raw events, one partition per calendar month (UTC) of occurred_at. No unique key here:
    -- a unique key of a partitioned table must contain occurred_at, and a retry may carry
    -- another occurred_at (or none). Uniqueness lives in analytics_event_ids.
    create table analytics_events (
        org_id uuid not null,
        event_id text collate "C" not null,
        name text not null,
        agent_id uuid,
        occurred_at timestamptz not null,
        received_at timestamptz not null,
        properties jsonb,
        batch_id uuid not null
    ) partition by range (occurred_at);
    create index analytics_events_org_time_idx on analytics_events (org_id, occurred_at);
    -- The nightly job reads one day of every organization: a BRIN range per block is enough
    -- for rows that arrive roughly in time order, and costs next to nothing to maintain.
    create index analytics_events_time_brin on analytics_events using brin (occurred_at);

    -- The dedupe index: one row per (organization, client event_id) ever stored, with the
    -- occurred_at the event was stored under. Not partitioned, so its primary key needs no
    -- partition key; pruned with the partitions' retention (docs/analytics.md).
    create table analytics_event_ids (
        org_id uuid not null,
        event_id text collate "C" not null,
        occurred_at timestamptz not null,
        primary key (org_id, event_id)
    );
    create index analytics_event_ids_time_brin on analytics_event_ids using brin (occurred_at);

    -- The durable copy of an accepted batch, written in the request's transaction. The
    -- events worker stores its events, then counts them in Redis, then deletes the row;
    -- the sweeper re-sends a batch still here after two minutes.
    create table event_batches (
        id uuid primary key,
        org_id uuid not null references organizations (id) on delete cascade,
        received_at timestamptz not null default now(),
        event_count integer not null,
        events text not null,  -- the validated events as JSON (msgspec), occurred_at filled in
        ingested_at timestamptz,  -- events stored (the counters may not be bumped yet)
        swept_at timestamptz,  -- last re-sent by the sweeper
        counts jsonb  -- what was newly stored, grouped for the counters: [[day, hour, name, agent, n], ...]
    );
    -- JSON compresses poorly for its CPU cost here; keep it out of line uncompressed.
    alter table event_batches alter column events set storage external;
    create index event_batches_org_idx on event_batches (org_id, ingested_at);
    create index event_batches_received_idx on event_batches (received_at);

    -- Past UTC days that received events after they may have been rolled up.
    create table analytics_stale_days (
        org_id uuid not null references organizations (id) on delete cascade,
        day date not null,
        marked_at timestamptz not null default now(),
        primary key (org_id, day)
    );

    -- agent.high_traffic raised, at most once per agent and clock hour (survives a Redis flush).
    create table analytics_alerts (
        org_id uuid not null references organizations (id) on delete cascade,
        agent_id uuid not null,
        hour timestamptz not null,
        created_at timestamptz not null default now(),
        primary key (org_id, agent_id, hour)
    );

    create table daily_metrics (
        org_id uuid not null references organizations (id) on delete cascade,
        day date not null,
        events bigint not null,
        messages bigint not null,
        conversations bigint not null,
        errors bigint not null,
        deploys bigint not null,
        active_agents integer not null,
        aggregated_at timestamptz not null default now(),
        primary key (org_id, day)
    );

    -- Agents are not foreign keys: a deleted agent's history stays in the reports.
    create table agent_metrics (
        org_id uuid not null references organizations (id) on delete cascade,
        day date not null,
        agent_id uuid not null,
        events bigint not null,
        messages bigint not null,
        conversations bigint not null,
        errors bigint not null,
        deploys bigint not null,
        last_event_at timestamptz not null,
        aggregated_at timestamptz not null default now(),
        primary key (org_id, day, agent_id)
    );

    create table api_keys (
        id uuid primary key,
        org_id uuid not null references organizations (id) on delete cascade,
        name text not null check (length(name) between 1 and 200),
        prefix text not null,  -- the first characters, shown in lists
        key_hash text not null,  -- sha256 of the whole key; the key itself is never stored
        created_by uuid,
        created_at timestamptz not null default now(),
        last_used_at timestamptz,
        revoked_at timestamptz
    );
    create unique index api_keys_hash_key on api_keys (key_hash);
    create index api_keys_org_idx on api_keys (org_id, created_at desc);
    """)

    rls.tenant_table("analytics_events")
    for table in TENANT_TABLES:
        rls.tenant_table(table)
    # A request presenting an API key knows no organization yet: it may read exactly the
    # key whose hash it holds (like login_lookup on users).
    op.execute("""
    create policy key_lookup on api_keys for select
        using (key_hash = (select nullif(current_setting('app.api_key_hash', true), '')))
    """)

    op.execute(f"""
    -- Create the partition of the month holding `day` if missing, under forced RLS with no
    -- policy of its own: rows are reached through analytics_events and its policies only.
    create function analytics_ensure_partition(day date) returns text
    language plpgsql security definer set search_path = public, pg_temp as $$
    declare
        first date := date_trunc('month', day)::date;
        name text := 'analytics_events_p' || to_char(first, 'YYYYMM');
    begin
        if to_regclass('public.' || name) is null then
            execute format('create table if not exists public.%I partition of public.analytics_events '
                           'for values from (%L) to (%L)', name,
                           (first::timestamp at time zone 'UTC'),
                           ((first + interval '1 month')::timestamp at time zone 'UTC'));
            execute format('alter table public.%I enable row level security', name);
            execute format('alter table public.%I force row level security', name);
        end if;
        return name;
    end $$;

    -- Drop every partition whose whole month ends on or before `cutoff`; the names dropped.
    create function analytics_drop_partitions(cutoff date) returns setof text
    language plpgsql security definer set search_path = public, pg_temp as $$
    declare
        partition record;
    begin
        for partition in
            select c.relname from pg_inherits i join pg_class c on c.oid = i.inhrelid
            where i.inhparent = 'public.analytics_events'::regclass
              and c.relname ~ '^analytics_events_p[0-9]{{6}}$'
              and (to_date(substr(c.relname, 19), 'YYYYMM') + interval '1 month')::date <= cutoff
            order by c.relname
        loop
            execute format('drop table public.%I', partition.relname);
            return next partition.relname;
        end loop;
    end $$;

    revoke all on function analytics_ensure_partition(date) from public;
    revoke all on function analytics_drop_partitions(date) from public;
    grant execute on function analytics_ensure_partition(date) to {app};
    grant execute on function analytics_drop_partitions(date) to {app};

    select analytics_ensure_partition(current_date);
    select analytics_ensure_partition((current_date + interval '1 month')::date);

    grant select, insert on analytics_events to {app};
    grant select, insert, delete on analytics_event_ids to {app};
    grant select, insert, update, delete on event_batches to {app};
    grant select, insert, update, delete on analytics_stale_days to {app};
    grant select, insert, delete on analytics_alerts to {app};
    grant select, insert, update on daily_metrics to {app};
    grant select, insert, update on agent_metrics to {app};
    grant select, insert, update on api_keys to {app};
    """)


def downgrade() -> None:
    op.execute("""
    drop function if exists analytics_drop_partitions(date);
    drop function if exists analytics_ensure_partition(date);
    drop table if exists api_keys, agent_metrics, daily_metrics, analytics_alerts, analytics_stale_days,
        event_batches, analytics_event_ids, analytics_events cascade;
    """)
