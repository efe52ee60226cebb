"""A public admin answer reaches the customer for real: the workers run the fan-out and the email."""

from __future__ import annotations

from tests.admin.helpers import signed_in_admin
from tests.fixtures.mail import outbox
from tests.fixtures.worker import wait_for


def test_the_customer_sees_a_public_answer_in_app_and_by_email_but_never_a_note(client, settings, owner,
                                                                              start_worker):
    opened = owner.post("/v1/support/tickets", json={"subject": "Webhook retries", "body": "They stop after 3"})
    ticket_id = opened.json()["ticket"]["id"]
    support = signed_in_admin(client, settings, role="support")
    note = support.post(f"/admin/v1/tickets/{ticket_id}/replies", json={"body": "ask billing", "internal": True})
    answer = support.post(f"/admin/v1/tickets/{ticket_id}/replies",
                          json={"body": "Raised the retry budget to 10 for you"})
    assert (note.status_code, answer.status_code) == (201, 201)
    # Accepted and enqueued, nothing delivered yet: no worker runs.
    assert [n for n in owner.get("/v1/notifications").json()["items"] if n["type"] == "support.ticket_replied"] == []
    start_worker(["workers.notifications", "workers.email"])

    [notice] = wait_for(lambda: [n for n in owner.get("/v1/notifications").json()["items"]
                                 if n["type"] == "support.ticket_replied"], what="the in-app notification")
    assert notice["title"] == "Support replied: Webhook retries" and "retry budget" in notice["body"]
    [mail] = wait_for(lambda: outbox(settings, owner.email, "Support replied"), what="the email in the outbox")
    text = mail.get_body(preferencelist=("plain",)).get_content()
    assert "retry budget" in text and "ask billing" not in text
