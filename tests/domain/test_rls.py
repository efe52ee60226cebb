"""Tenant isolation is enforced by Postgres itself, not by our WHERE clauses."""

from __future__ import annotations

import asyncio
import uuid

import pytest
from sqlalchemy import create_engine, text
from sqlalchemy.exc import DBAPIError, IntegrityError

from domain.db import Database, sqlalchemy_url

# Tables that belong to no tenant; everything else must force RLS.
GLOBAL_TABLES = {"alembic_version"}


@pytest.fixture
def owner_sql(settings):
    engine = create_engine(sqlalchemy_url(settings.database.url))
    with engine.connect() as connection:
        yield connection
    engine.dispose()


def test_app_role_cannot_bypass_rls(owner_sql, settings):
    role = owner_sql.execute(text(
        "select rolsuper, rolbypassrls, rolcreaterole, rolcreatedb from pg_roles where rolname = :r"),
        {"r": settings.database.app_role}).one()
    assert tuple(role) == (False, False, False, False)
    owned = owner_sql.execute(text(
        "select count(*) from pg_tables where schemaname = 'public' and tableowner = :r"),
        {"r": settings.database.app_role}).scalar()
    assert owned == 0


def test_every_tenant_table_forces_rls(owner_sql):
    rows = owner_sql.execute(text(
        "select relname, relrowsecurity, relforcerowsecurity from pg_class c "
        "join pg_namespace n on n.oid = c.relnamespace "
        "where n.nspname = 'public' and c.relkind in ('r', 'p')")).all()
    tables = {name: (enabled, forced) for name, enabled, forced in rows}
    assert "agents" in tables and "commands" in tables
    missing = [name for name, flags in tables.items() if name not in GLOBAL_TABLES and flags != (True, True)]
    assert missing == []


def test_every_org_id_column_is_indexed(owner_sql):
    unindexed = owner_sql.execute(text("""
        select c.relname from pg_attribute a
        join pg_class c on c.oid = a.attrelid join pg_namespace n on n.oid = c.relnamespace
        where n.nspname = 'public' and a.attname = 'org_id' and c.relkind = 'r'
          and not exists (select 1 from pg_index i where i.indrelid = c.oid and i.indkey[0] = a.attnum)
    """)).scalars().all()
    assert unindexed == []


def _run(coro):
    return asyncio.run(coro)


async def _with_db(settings, body):
    db = Database(settings.database.app_url, pool_size=1)
    try:
        return await body(db)
    finally:
        await db.dispose()


def test_a_query_without_where_sees_only_its_tenant(settings, owner, other_owner):
    for account, name in ((owner, "ours"), (other_owner, "theirs")):
        assert account.post("/v1/agents", json={"name": name, "model": "m"}).status_code == 201

    async def body(db):
        async with db.transaction(org_id=uuid.UUID(owner.org_id)) as session:
            mine = (await session.execute(text("select name, org_id from agents"))).all()
        # Same pooled connection, next transaction, no tenant: nothing at all.
        async with db.transaction() as session:
            nobody = (await session.execute(text("select count(*) from agents"))).scalar()
            orgs = (await session.execute(text("select count(*) from organizations"))).scalar()
        return mine, nobody, orgs

    mine, nobody, orgs = _run(_with_db(settings, body))
    assert {str(org) for _, org in mine} == {owner.org_id}
    assert "theirs" not in {name for name, _ in mine}
    assert nobody == 0 and orgs == 0


def test_a_write_carrying_another_tenants_id_fails(settings, owner, other_owner):
    theirs = other_owner.post("/v1/agents", json={"name": "theirs", "model": "m"}).json()

    async def insert_agent_into_other_org(db):
        async with db.transaction(org_id=uuid.UUID(owner.org_id)) as session:
            await session.execute(text(
                "insert into agents (id, org_id, name, model) values (:i, :o, 'x', 'm')"),
                {"i": uuid.uuid4(), "o": other_owner.org_id})

    async def attach_conversation_to_their_agent(db):
        async with db.transaction(org_id=uuid.UUID(owner.org_id)) as session:
            await session.execute(text(
                "insert into conversations (id, org_id, agent_id) values (:i, :o, :a)"),
                {"i": uuid.uuid4(), "o": owner.org_id, "a": theirs["id"]})

    async def update_their_agent(db):
        async with db.transaction(org_id=uuid.UUID(owner.org_id)) as session:
            result = await session.execute(text("update agents set name = 'pwned' where id = :a"),
                                           {"a": theirs["id"]})
            return result.rowcount

    with pytest.raises(DBAPIError, match="row-level security"):
        _run(_with_db(settings, insert_agent_into_other_org))
    with pytest.raises(IntegrityError):
        _run(_with_db(settings, attach_conversation_to_their_agent))
    assert _run(_with_db(settings, update_their_agent)) == 0
    assert other_owner.get(f"/v1/agents/{theirs['id']}").json()["name"] == "theirs"


def test_analytics_events_system_scope_policy_admits_exactly_what_it_did(settings, owner, other_owner):
    """Migration 0018 rewrote the system-scope policy of analytics_events for the planner's estimate;
    a tenant still sees only its events, no scope sees none, the system scope sees every organization's."""
    from datetime import datetime, timezone

    now = datetime.now(timezone.utc)

    async def body(db):
        for account in (owner, other_owner):
            async with db.transaction(org_id=uuid.UUID(account.org_id)) as session:
                await session.execute(text(
                    "insert into analytics_events (org_id, event_id, name, occurred_at, received_at, batch_id) "
                    "values (:o, 'rls-0018', 'page.view', :t, :t, :b)"),
                    {"o": account.org_id, "t": now, "b": uuid.uuid4()})
        seen = {}
        for scope, kwargs in (("tenant", {"org_id": uuid.UUID(owner.org_id)}), ("none", {}),
                              ("system", {"system": True})):
            async with db.transaction(**kwargs) as session:
                seen[scope] = {str(org) for org in (await session.execute(text(
                    "select org_id from analytics_events where event_id = 'rls-0018'"))).scalars()}
        async with db.transaction(org_id=uuid.UUID(owner.org_id)) as session:
            try:
                await session.execute(text(
                    "insert into analytics_events (org_id, event_id, name, occurred_at, received_at, batch_id) "
                    "values (:o, 'rls-0018-x', 'page.view', :t, :t, :b)"),
                    {"o": other_owner.org_id, "t": now, "b": uuid.uuid4()})
            except DBAPIError as error:
                seen["cross write"] = "row-level security" in str(error)
        return seen

    seen = _run(_with_db(settings, body))
    assert seen["tenant"] == {owner.org_id}
    assert seen["none"] == set()
    assert {owner.org_id, other_owner.org_id} <= seen["system"]
    assert seen["cross write"] is True
