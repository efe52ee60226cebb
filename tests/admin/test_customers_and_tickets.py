"""What an operator does: find a customer, suspend it, grant extras, answer its tickets, broadcast."""

from __future__ import annotations

import uuid

from tests.admin.helpers import signed_in_admin
from tests.fixtures.app import add_member


def test_find_a_customer_by_a_member_email_or_domain_and_open_it(client, settings, owner):
    admin = signed_in_admin(client, settings, role="support")
    member = add_member(client, settings, owner.org_id, "viewer")
    by_email = admin.get("/admin/v1/customers", params={"q": member.email.upper()}).json()["items"]
    assert [c["id"] for c in by_email] == [owner.org_id]
    domain = member.email.split("@")[1]
    assert owner.org_id in [c["id"] for c in admin.get("/admin/v1/customers", params={"q": "@" + domain,
                                                                                     "limit": 100}).json()["items"]]
    detail = admin.get(f"/admin/v1/customers/{owner.org_id}").json()
    assert {m["email"]: m["role"] for m in detail["members"]} == {owner.email: "owner", member.email: "viewer"}
    assert detail["plan"] == "free" and detail["usage"]["seats_used"] == 2


def test_customers_page_by_keyset(client, settings, owner, other_owner):
    admin = signed_in_admin(client, settings)
    first = admin.get("/admin/v1/customers", params={"limit": 1}).json()
    second = admin.get("/admin/v1/customers", params={"limit": 1, "cursor": first["next_cursor"]}).json()
    assert first["items"][0]["id"] != second["items"][0]["id"]


def test_a_suspended_organization_is_refused_everywhere_until_unsuspended(client, settings, owner, other_owner):
    admin = signed_in_admin(client, settings)
    assert admin.patch(f"/admin/v1/customers/{owner.org_id}", json={"suspend": True}).status_code == 422  # reason
    changed = admin.patch(f"/admin/v1/customers/{owner.org_id}", json={"suspend": True, "reason": "fraud"})
    assert changed.json() == {"changed": ["suspended"]}
    for response in (owner.get("/v1/me"), owner.get("/v1/agents"), owner.post("/v1/agents", json={"name": "B",
                                                                                                   "model": "m"})):
        assert (response.status_code, response.json()["error"]["code"]) == (403, "organization_suspended")
    assert other_owner.get("/v1/me").status_code == 200
    listed = admin.get("/admin/v1/customers", params={"status": "suspended", "limit": 100}).json()["items"]
    assert owner.org_id in [c["id"] for c in listed]
    assert admin.patch(f"/admin/v1/customers/{owner.org_id}", json={"suspend": False}).status_code == 200
    assert owner.get("/v1/me").status_code == 200


def test_suspending_closes_the_organizations_websockets(client, settings, owner, start_relay):
    from websockets.exceptions import ConnectionClosed

    relay = start_relay()
    admin = signed_in_admin(client, settings)
    with relay.connect(owner) as browser:
        assert admin.patch(f"/admin/v1/customers/{owner.org_id}", json={"suspend": True, "reason": "abuse"}
                           ).status_code == 200
        try:
            notice = browser.recv(timeout=10)
            assert '"organization.suspended"' in notice
            browser.recv(timeout=10)
            raise AssertionError("the websocket stayed open")
        except ConnectionClosed as closed:
            assert closed.rcvd.code == 1008 and closed.rcvd.reason == "organization suspended"
    refused = admin.patch(f"/admin/v1/customers/{owner.org_id}", json={"suspend": False})
    assert refused.status_code == 200


def test_granted_seats_and_agents_lift_the_limits(client, settings, owner):
    admin = signed_in_admin(client, settings, role="billing")
    for n in range(settings.billing.free_plan_agents):
        assert owner.post("/v1/agents", json={"name": f"a{n}", "model": "m"}).status_code == 201
    assert owner.post("/v1/agents", json={"name": "over", "model": "m"}).status_code == 402
    assert admin.patch(f"/admin/v1/customers/{owner.org_id}", json={"extra_agents": 1, "extra_seats": 3}
                       ).status_code == 200
    assert owner.post("/v1/agents", json={"name": "granted", "model": "m"}).status_code == 201
    usage = admin.get(f"/admin/v1/customers/{owner.org_id}").json()["usage"]
    assert usage["seats"] == settings.team.free_plan_seats + 3
    assert admin.patch(f"/admin/v1/customers/{owner.org_id}", json={"suspend": True, "reason": "x"}
                       ).status_code == 403  # billing may grant, not suspend


def test_a_ticket_from_open_to_answer_with_internal_notes_hidden(client, settings, owner, other_owner, rows):
    opened = owner.post("/v1/support/tickets", json={"subject": "Deploy fails", "body": "It says 500"})
    assert opened.status_code == 201, opened.text
    ticket_id = opened.json()["ticket"]["id"]
    assert other_owner.get(f"/v1/support/tickets/{ticket_id}").status_code == 404
    support = signed_in_admin(client, settings, role="support")
    queue = support.get("/admin/v1/tickets", params={"unassigned": True, "limit": 100}).json()["items"]
    assert ticket_id in [t["id"] for t in queue]
    assigned = support.patch(f"/admin/v1/tickets/{ticket_id}", json={"assignee_id": support.id, "priority": "high"})
    assert assigned.json()["assignee_email"] == support.email and assigned.json()["priority"] == "high"
    note = support.post(f"/admin/v1/tickets/{ticket_id}/replies", json={"body": "Looks like bug 12", "internal": True})
    answer = support.post(f"/admin/v1/tickets/{ticket_id}/replies", json={"body": "Fixed, try again"})
    assert (note.status_code, answer.status_code) == (201, 201)
    seen = owner.get(f"/v1/support/tickets/{ticket_id}").json()
    assert [m["body"] for m in seen["messages"]] == ["It says 500", "Fixed, try again"]
    assert seen["ticket"]["status"] == "pending"
    assert len(support.get(f"/admin/v1/tickets/{ticket_id}").json()["messages"]) == 3
    # The customer answers: the ticket reopens.
    assert owner.post(f"/v1/support/tickets/{ticket_id}/replies", json={"body": "Works"}).status_code == 201
    assert owner.get("/v1/support/tickets").json()["items"][0]["status"] == "open"
    assert support.patch(f"/admin/v1/tickets/{ticket_id}", json={"status": "closed"}).status_code == 200
    closed = owner.post(f"/v1/support/tickets/{ticket_id}/replies", json={"body": "again"})
    assert (closed.status_code, closed.json()["error"]["code"]) == (409, "ticket_closed")
    bad = support.patch(f"/admin/v1/tickets/{ticket_id}", json={"status": "open"})
    assert (bad.status_code, bad.json()["error"]["code"]) == (409, "invalid_status_transition")
    actions = [r["action"] for r in rows("select action from admin_audit_logs where admin_id = :a order by seq",
                                         a=uuid.UUID(support.id))]
    assert actions.count("tickets.reply") == 2 and "tickets.update" in actions


def test_a_tenant_cannot_read_internal_notes_even_without_a_filter(client, settings, owner):
    from sqlalchemy import create_engine, text
    from domain.db import sqlalchemy_url

    ticket_id = owner.post("/v1/support/tickets", json={"subject": "S", "body": "B"}).json()["ticket"]["id"]
    support = signed_in_admin(client, settings, role="support")
    support.post(f"/admin/v1/tickets/{ticket_id}/replies", json={"body": "secret", "internal": True})
    engine = create_engine(sqlalchemy_url(settings.database.app_url))
    try:
        with engine.begin() as connection:
            connection.execute(text("select set_config('app.org_id', :o, true)"), {"o": owner.org_id})
            bodies = connection.execute(text("select body from ticket_messages")).scalars().all()
    finally:
        engine.dispose()
    assert bodies == ["B"]


def test_a_broadcast_goes_to_the_chosen_plans(client, settings, owner):
    admin = signed_in_admin(client, settings)
    sent = admin.post("/admin/v1/broadcasts", json={"type": "system.maintenance", "message": "DB upgrade",
                                                    "window": "Sunday 02:00 UTC", "plans": ["free"]})
    assert sent.status_code == 200, sent.text
    assert sent.json()["organizations"] >= 1
    everyone = admin.post("/admin/v1/broadcasts", json={"type": "system.update", "message": "New UI"})
    assert everyone.json()["organizations"] is None
