"""The dashboard: organizations, MRR from our subscription rows and the catalog, trials, past due, tickets."""

from __future__ import annotations

import uuid
from datetime import datetime, timedelta, timezone

from sqlalchemy import create_engine, text

from domain.admin.dashboard import revenue
from domain.db import sqlalchemy_url
from tests.admin.helpers import signed_in_admin


def _subscribe(settings, org_id: str, plan: str, status: str, quantity: int, trial_end=None) -> None:
    """A subscription row as the billing worker keeps it from Stripe (the dashboard reads only our rows)."""
    engine = create_engine(sqlalchemy_url(settings.database.url))
    with engine.begin() as connection:
        connection.execute(text("""
            insert into subscriptions (id, org_id, stripe_subscription_id, stripe_customer_id, plan, status, quantity,
                                       trial_end, current_period_end)
            values (:id, :org, :sub, 'cus_dashboard', :plan, :status, :quantity, :trial_end, now() + interval '20 days')
        """), {"id": uuid.uuid4(), "org": org_id, "sub": f"sub_{uuid.uuid4().hex}", "plan": plan, "status": status,
               "quantity": quantity, "trial_end": trial_end})
    engine.dispose()


def test_mrr_counts_active_and_past_due_but_not_trials():
    mix = [{"plan": "pro", "status": "active", "quantity": 25, "organizations": 2},
           {"plan": "starter", "status": "active", "quantity": 12, "organizations": 1},  # 2 extra seats at $8
           {"plan": "starter", "status": "past_due", "quantity": 10, "organizations": 1},
           {"plan": "enterprise", "status": "trialing", "quantity": 200, "organizations": 1},
           {"plan": "pro", "status": "canceled", "quantity": 25, "organizations": 5}]
    figures = revenue(mix)
    assert figures["mrr"] == 2 * 9_900 + (2_900 + 2 * 800) + 2_900
    assert figures["past_due_mrr"] == 2_900 and figures["trial_mrr"] == 49_900
    assert (figures["paying_organizations"], figures["trialing_organizations"]) == (4, 1)


def test_the_dashboard_moves_with_what_customers_do(client, settings, owner, other_owner):
    admin = signed_in_admin(client, settings, role="support")
    before = admin.get("/admin/v1/dashboard")
    assert before.status_code == 200, before.text
    before = before.json()
    _subscribe(settings, owner.org_id, "pro", "active", 30)  # 5 seats beyond the 25 included
    ends = datetime.now(timezone.utc) + timedelta(days=3)
    _subscribe(settings, other_owner.org_id, "starter", "trialing", 10, trial_end=ends)
    third = client.post("/v1/auth/signup", json={"email": f"late-{uuid.uuid4().hex[:8]}@example.com",
                                                 "password": "a long enough password", "name": "L",
                                                 "organization_name": "Late payer"}).json()
    _subscribe(settings, third["organization_id"], "starter", "past_due", 10)
    owner.post("/v1/support/tickets", json={"subject": "Help", "body": "Please"})
    agent = owner.post("/v1/agents", json={"name": "Busy", "model": "m"}).json()
    assert owner.post(f"/v1/agents/{agent['id']}/deploy").status_code == 202  # a command: the owner is active
    after = admin.get("/admin/v1/dashboard").json()
    assert after["organizations"]["total"] == before["organizations"]["total"] + 1
    assert after["organizations"]["new_this_week"] >= 1
    assert after["organizations"]["active_7_days"] == before["organizations"]["active_7_days"] + 1
    assert after["organizations"]["active_30_days"] == before["organizations"]["active_30_days"] + 1
    assert after["revenue"]["mrr"] - before["revenue"]["mrr"] == (9_900 + 5 * 1_200) + 2_900
    assert after["revenue"]["past_due_mrr"] - before["revenue"]["past_due_mrr"] == 2_900
    assert after["revenue"]["trial_mrr"] - before["revenue"]["trial_mrr"] == 2_900
    assert other_owner.org_id in [o["org_id"] for o in after["trials_ending"]["organizations"]]
    assert after["trials_ending"]["next_7_days"] == before["trials_ending"]["next_7_days"] + 1
    assert third["organization_id"] in [o["org_id"] for o in after["past_due"]["organizations"]]
    assert after["tickets"]["open"] == before["tickets"]["open"] + 1
    assert after["tickets"]["unassigned"] == before["tickets"]["unassigned"] + 1
    assert after["health"]["status"] in ("ok", "degraded", "down") and isinstance(after["health"]["problems"], list)
