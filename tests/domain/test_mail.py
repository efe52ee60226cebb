"""The mail capability without a worker: templates, the outbox format, the SendGrid
adapter's errors, the provider choice, and the delivery bookkeeping in Postgres."""

from __future__ import annotations

import asyncio
import json
import subprocess
import sys
import uuid
from datetime import datetime, timezone
from email import message_from_bytes
from email.policy import default

import pytest

from domain import jobs
from domain.db import Database
from domain.mail import Email, MailTemplateError, PermanentMailError, TransientMailError, render
from domain.mail import service as mail
from domain.adapters.outbox_mailer import OutboxMailer, file_name
from domain.adapters.sendgrid_mailer import SendGridMailer, provider_error
from objecta.wiring import mailer as mailer_for
from objecta import settings as settings_module
from objecta.embedded import free_port
from tests.fixtures.mail import REFUSAL

NOTIFICATION = {"title": "Deploy failed", "body": "Agent bot could not start.", "app_url": "http://app.test"}


def _email(key="test:outbox", **changes) -> Email:
    values = dict(to="ada@example.com", subject="Hello Ada", text="Plain words.", html="<p>Rich <b>words</b>.</p>",
                  dedupe_key=key, sender="ObjectaLabs <no-reply@objecta.test>")
    return Email(**{**values, **changes})


def test_html_is_escaped_and_text_is_left_readable():
    title = '<script>alert("hi")</script> & more'
    subject, text, html = render("notification", {**NOTIFICATION, "title": title})
    assert subject == title
    assert title in text
    assert "<script>" not in html
    assert "&lt;script&gt;alert(&#34;hi&#34;)&lt;/script&gt; &amp; more" in html


@pytest.mark.parametrize("template, context, subject, words", [
    ("notification", {**NOTIFICATION, "action_path": "/agents/1", "action_label": "See the agent"},
     "Deploy failed", ["Agent bot could not start.", "See the agent", "http://app.test/agents/1"]),
    ("invitation", {"inviter_name": "Ada", "organization_name": "Acme", "accept_path": "/invite?token=t",
                    "app_url": "http://app.test", "expires_at": "2026-12-03T10:00:00+00:00"},
     "Ada invited you to join Acme on ObjectaLabs", ["http://app.test/invite?token=t", "3 December 2026 at 10:00 UTC"]),
    ("welcome", {"name": "Ada", "organization_name": "Acme", "app_url": "http://app.test"},
     "Welcome to ObjectaLabs, Ada", ["Acme", "http://app.test"]),
])
def test_every_template_renders_subject_text_and_html(template, context, subject, words):
    rendered_subject, text, html = render(template, context)
    assert rendered_subject == subject
    for word in words:
        assert word in text
        assert word in html.replace("&amp;", "&")
    assert html.lstrip().startswith("<!DOCTYPE html>")


def test_a_notification_without_an_action_has_no_button():
    _, text, html = render("notification", NOTIFICATION)
    assert "Open in ObjectaLabs" not in text and "Open in ObjectaLabs" not in html


def test_a_subject_is_one_line_whatever_the_title():
    assert render("notification", {**NOTIFICATION, "title": "Two\nlines"})[0] == "Two lines"


def test_unknown_templates_and_missing_variables_are_refused():
    with pytest.raises(MailTemplateError, match="unknown email template 'nope'"):
        render("nope", {})
    with pytest.raises(MailTemplateError, match="inviter_name"):
        render("invitation", {"organization_name": "Acme", "accept_path": "x", "expires_at": "2026-01-01T00:00:00Z"})


def test_the_outbox_writes_a_readable_multipart_eml(tmp_path):
    message_id = asyncio.run(OutboxMailer(tmp_path).send(_email()))

    [path] = list(tmp_path.iterdir())  # no temporary file left behind
    assert path.suffix == ".eml" and "test_outbox" in path.name
    raw = path.read_bytes()
    assert b"\r\n" in raw  # RFC 5322 line endings
    message = message_from_bytes(raw, policy=default)
    assert (message["From"], message["To"], message["Subject"]) == (
        "ObjectaLabs <no-reply@objecta.test>", "ada@example.com", "Hello Ada")
    assert message["Message-ID"] == message_id and message_id.endswith("@objecta.test>")
    assert message["Date"].datetime.tzinfo is not None
    assert message.get_content_type() == "multipart/alternative"
    plain, rich = message.iter_parts()
    assert (plain.get_content_type(), plain.get_content().strip()) == ("text/plain", "Plain words.")
    assert (rich.get_content_type(), rich.get_content().strip()) == ("text/html", "<p>Rich <b>words</b>.</p>")


def test_outbox_file_names_sort_by_time_and_keep_keys_safe_and_apart(tmp_path):
    early, late = datetime(2026, 1, 2, 3, 4, 5, tzinfo=timezone.utc), datetime(2026, 1, 2, 3, 4, 6, tzinfo=timezone.utc)
    assert file_name("b", early) < file_name("a", late)
    hostile = file_name("invitation:../../etc/passwd x", early)
    assert "/" not in hostile and " " not in hostile and hostile.startswith("20260102T030405")
    assert file_name("a/b", early) != file_name("a:b", early)  # both sanitize to a_b

    mailer = OutboxMailer(tmp_path)
    for key in ("first", "second", "third"):
        asyncio.run(mailer.send(_email(key)))
    assert [path.name.split("-")[1] for path in sorted(tmp_path.glob("*.eml"))] == ["first", "second", "third"]


@pytest.mark.parametrize("status, reason, error", [
    (429, "Too Many Requests", TransientMailError), (500, "Internal Server Error", TransientMailError),
    (503, "Service Unavailable", TransientMailError), (401, "Unauthorized", PermanentMailError),
    (413, "Payload Too Large", PermanentMailError),
])
def test_sendgrid_answers_become_our_errors(status, reason, error):
    mapped = provider_error(status, reason, b'{"errors": [{"message": "said so"}]}')
    assert type(mapped) is error
    assert f"({status} {reason})" in mapped.message and mapped.message.endswith(": said so")


def test_a_refusal_reads_like_a_sentence():
    refused = provider_error(400, "Bad Request", json.dumps(REFUSAL).encode())
    assert (refused.provider_status, refused.provider_reason) == (400, "Bad Request")
    assert refused.message == ("SendGrid refused the email (400 Bad Request): The to email does not contain a "
                               "valid address. (personalizations.0.to.0.email)")


def test_sendgrid_out_of_reach_is_transient():
    mailer = SendGridMailer("test-key", f"http://127.0.0.1:{free_port()}", timeout=5)
    with pytest.raises(TransientMailError, match="could not reach SendGrid"):
        asyncio.run(mailer.send(_email()))


def test_the_provider_is_chosen_by_the_api_key(tmp_path):
    env = {"OBJECTA_ENV": "test", "OBJECTA_HOME": str(tmp_path)}
    outbox = mailer_for(settings_module.load(env))
    assert isinstance(outbox, OutboxMailer) and outbox.folder == tmp_path.resolve() / "outbox"
    assert isinstance(mailer_for(settings_module.load({**env, "SENDGRID_API_KEY": "k"})), SendGridMailer)


def test_queueing_an_email_does_not_load_the_sendgrid_sdk():
    code = "import sys, domain.mail.service; assert 'sendgrid' not in sys.modules, 'sendgrid loaded'"
    subprocess.run([sys.executable, "-c", code], check=True)


class _Recorder:
    def __init__(self):
        self.jobs: list[jobs.Job] = []

    def send(self, job):
        self.jobs.append(job)


def _with_database(settings, work, jobs=None):
    async def run():
        db = Database(settings.database.app_url, pool_size=2, jobs=jobs)
        try:
            return await work(db)
        finally:
            await db.dispose()
    return asyncio.run(run())


def test_send_later_enqueues_after_commit_only(settings):
    recorder = _Recorder()

    async def work(db):
        async with db.transaction(system=True) as session:
            mail.send_later(session, dedupe_key="test:later", to="ada@example.com", template="welcome",
                            context={"name": "Ada"})
            assert recorder.jobs == []  # not before the commit
        with pytest.raises(RuntimeError):
            async with db.transaction(system=True) as session:
                mail.send_later(session, dedupe_key="test:dropped", to="x@example.com", template="welcome",
                                context={})
                raise RuntimeError("roll back")
    _with_database(settings, work, jobs=recorder)
    assert recorder.jobs == [jobs.Job("email", "email.send", ("test:later", "ada@example.com", "welcome",
                                                              {"name": "Ada"}))]


def test_send_later_refuses_what_a_worker_could_never_send(settings):
    with pytest.raises(MailTemplateError):
        mail.send_later(None, dedupe_key="k", to="a@example.com", template="nope", context={})
    with pytest.raises(TypeError):
        mail.send_later(None, dedupe_key="k", to="a@example.com", template="welcome", context={"when": datetime.now()})


def test_a_key_is_claimed_until_sent_then_never_again(settings):
    key = f"test:claim:{uuid.uuid4().hex}"

    async def step(db, action, *args):
        async with db.transaction(system=True) as session:
            return await action(session, key, *args)

    async def work(db):
        attempts = [await step(db, mail.claim, "a@example.com", "welcome")]
        attempts.append(await step(db, mail.claim, "a@example.com", "welcome"))  # a crashed attempt is taken over
        await step(db, mail.mark_failed, "SendGrid is unavailable")
        attempts.append(await step(db, mail.claim, "a@example.com", "welcome"))  # so is a failed one
        await step(db, mail.mark_sent, "provider-1")
        attempts.append(await step(db, mail.claim, "a@example.com", "welcome"))
        return attempts, await step(db, mail.delivery)

    attempts, delivery = _with_database(settings, work)
    assert attempts == [1, 2, 3, None]
    assert (delivery.status, delivery.attempts, delivery.provider_id, delivery.error) == ("sent", 3, "provider-1", None)
    assert delivery.sent_at is not None


def test_one_delivery_of_a_key_at_a_time(settings):
    key = f"test:lock:{uuid.uuid4().hex}"

    async def work(db):
        async with db.transaction(system=True) as first:
            held = await mail.hold(first, key)
            async with db.transaction(system=True) as second:
                refused = await mail.hold(second, key)
        async with db.transaction(system=True) as third:
            again = await mail.hold(third, key)
        return held, refused, again

    assert _with_database(settings, work) == (True, False, True)


def test_names_a_customer_chose_reach_a_stranger_without_links_and_bounded():
    """Issue 14, finding 5: an organization or inviter name carried a phishing line and link into the subject
    and body of an invitation sent from our domain to any address."""
    context = {"inviter_name": "Security team https://evil.example/login", "accept_path": "/invite?token=t",
               "organization_name": "PayPal.com \u202eaccount " + "x" * 300, "app_url": "http://app.test",
               "expires_at": "2026-12-03T10:00:00+00:00"}
    subject, text, html = render("invitation", context)
    for part in (subject, text, html):
        assert "evil.example" not in part and "https://evil" not in part and "PayPal.com" not in part
        assert "\u202e" not in part and "x" * 40 not in part
    assert subject.startswith("Security team [link removed] invited you to join [link removed] account")
    assert len(subject) <= 2 * 40 + len(" invited you to join  on ObjectaLabs")
    # An ordinary name is shown as it was written.
    plain = render("invitation", {**context, "inviter_name": "Ada Lovelace", "organization_name": "Acme Inc."})[0]
    assert plain == "Ada Lovelace invited you to join Acme Inc. on ObjectaLabs"
