"""The audit log: every admin action written by the guard (failures too), append-only, hash-chained."""

from __future__ import annotations

import asyncio
import uuid

import pytest
from sqlalchemy import create_engine, text
from sqlalchemy.exc import DBAPIError

from domain.db import sqlalchemy_url
from objecta.admin import _verify
from tests.admin.helpers import password_step, signed_in_admin


@pytest.fixture
def owner_sql(settings):
    engine = create_engine(sqlalchemy_url(settings.database.url))
    yield engine
    engine.dispose()


def _rows(rows, **where):
    clause = " and ".join(f"{k} = :{k}" for k in where)
    return rows(f"select * from admin_audit_logs where {clause} order by seq", **where)


def test_reads_changes_and_sign_ins_are_audited_with_who_where_and_how_it_ended(client, settings, owner, rows):
    admin = signed_in_admin(client, settings)
    assert admin.get(f"/admin/v1/customers/{owner.org_id}", headers={"X-Request-ID": "req-1",
                                                                     "User-Agent": "console"}).status_code == 200
    [read] = _rows(rows, admin_id=uuid.UUID(admin.id), action="customers.read")
    assert (read["resource_type"], read["resource_id"], str(read["org_id"])) == ("organization", owner.org_id,
                                                                                 owner.org_id)
    assert (read["outcome"], read["status_code"], read["request_id"], read["user_agent"], read["ip"]) == (
        "success", 200, "req-1", "console", "testclient")
    assert [r["action"] for r in _rows(rows, admin_email=admin.email)][:2] == ["admin.login", "admin.mfa"]


def test_a_failed_admin_request_still_writes_its_row(client, settings, rows):
    admin = signed_in_admin(client, settings)
    missing = uuid.uuid4()
    assert admin.get(f"/admin/v1/customers/{missing}").status_code == 404
    [row] = _rows(rows, admin_id=uuid.UUID(admin.id), action="customers.read")
    assert (row["outcome"], row["status_code"], row["details"]["error"], row["resource_id"]) == (
        "failed", 404, "customer_not_found", str(missing))
    support = signed_in_admin(client, settings, role="support")
    assert support.get("/admin/v1/audit-logs").status_code == 403
    [denied] = _rows(rows, admin_id=uuid.UUID(support.id), action="audit.read")
    assert (denied["outcome"], denied["status_code"]) == ("denied", 403)


def test_failed_sign_ins_are_audited(client, settings, rows):
    admin = signed_in_admin(client, settings)
    assert password_step(client, admin.email, "wrong password!").status_code == 401
    mfa_token = password_step(client, admin.email).json()["mfa_token"]
    assert client.post("/admin/v1/auth/mfa", json={"mfa_token": mfa_token, "code": "not-a-code"}).status_code == 401
    outcomes = [(r["action"], r["outcome"], r["status_code"]) for r in _rows(rows, admin_email=admin.email)]
    assert ("admin.login", "denied", 401) in outcomes and ("admin.mfa", "denied", 401) in outcomes


def test_the_audit_log_is_readable_filtered_and_exported(client, settings, owner):
    admin = signed_in_admin(client, settings)
    assert admin.get(f"/admin/v1/customers/{owner.org_id}").status_code == 200
    page = admin.get("/admin/v1/audit-logs", params={"org_id": owner.org_id, "action": "customers.read"}).json()
    assert [r["admin_id"] for r in page["items"]] == [admin.id]
    exported = admin.get("/admin/v1/audit-logs/export", params={"admin_id": admin.id})
    assert exported.status_code == 200 and exported.headers["content-type"].startswith("text/csv")
    assert "customers.read" in exported.text and exported.text.startswith("seq,id,created_at")


@pytest.mark.parametrize("statement", ["update admin_audit_logs set outcome = 'x'", "delete from admin_audit_logs",
                                       "truncate admin_audit_logs"])
def test_nobody_updates_or_deletes_the_audit_log(client, settings, owner_sql, statement):
    signed_in_admin(client, settings)  # at least one row
    app = create_engine(sqlalchemy_url(settings.database.app_url))
    try:
        for engine in (app, owner_sql):  # the application role (no grant) and the owner (the trigger)
            with pytest.raises(DBAPIError) as refused:
                with engine.begin() as connection:
                    connection.execute(text("select set_config('app.scope', 'system', true)"))
                    connection.execute(text(statement))
            assert "permission denied" in str(refused.value) or "append-only" in str(refused.value)
    finally:
        app.dispose()


def test_verify_audit_passes_then_names_the_row_a_superuser_edited(client, settings, owner_sql, capsys):
    signed_in_admin(client, settings)
    assert asyncio.run(_verify(settings)) == 0
    assert "audit log verifies" in capsys.readouterr().out
    with owner_sql.begin() as connection:
        seq, outcome = connection.execute(text(
            "select seq, outcome from admin_audit_logs order by seq desc offset 1 limit 1")).one()
        # A superuser can switch triggers off; the chain still tells.
        connection.execute(text("set local session_replication_role = replica"))
        connection.execute(text("update admin_audit_logs set outcome = 'tampered' where seq = :s"), {"s": seq})
    try:
        assert asyncio.run(_verify(settings)) == 1
        assert f"seq={seq}" in capsys.readouterr().err
    finally:
        with owner_sql.begin() as connection:  # put it back: later tests verify the chain too
            connection.execute(text("set local session_replication_role = replica"))
            connection.execute(text("update admin_audit_logs set outcome = :o where seq = :s"),
                               {"o": outcome, "s": seq})
    assert asyncio.run(_verify(settings)) == 0
