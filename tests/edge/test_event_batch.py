"""The one-pass decode of POST /v1/events (edge/event_batch.py): the fast pass accepts exactly what the
documented body type accepts, and anything it is unsure of gets the detailed pass's answer."""

from __future__ import annotations

import json
import uuid

import msgspec
import pytest
from litestar.exceptions import ValidationException

from domain.analytics.errors import InvalidEvents
from edge import event_batch
from edge.routes.analytics import EventBatch


def _body(*events) -> bytes:
    return json.dumps({"events": list(events)}).encode()


def _event(**fields):
    return {"event_id": uuid.uuid4().hex, "name": "page.view", **fields}


def _fields(error: InvalidEvents) -> set[tuple[int, str]]:
    return {(p["index"], p["field"]) for p in error.details["events"]}


def test_a_good_batch_takes_the_fast_pass_and_keeps_properties_as_sent(monkeypatch):
    monkeypatch.setattr(event_batch, "_detailed", lambda *a: pytest.fail("a good batch took the detailed pass"))
    body = b'{"events": [{"event_id": "a", "name": "page.view", "properties": {"plan" : "pro"}}, ' \
           b'{"event_id": "b", "name": "x:y", "agent_id": null, "properties": null}]}'
    batch = event_batch.decode_batch(body, EventBatch)
    assert [bytes(e.properties) for e in batch.events] == [b'{"plan" : "pro"}', b"null"]
    assert batch.events[1].agent_id is None


@pytest.mark.parametrize(("event", "field"), [
    (_event(name="bad name!"), "name"),
    (_event(properties=[1, 2]), "properties"),
    (_event(properties="text"), "properties"),
    (_event(event_id="x" * 129), "event_id"),
    (_event(event_id="a\u0000b"), "event_id"),
    (_event(occurred_at="2026-01-01T00:00:00"), "occurred_at"),
    (_event(colour="red"), "colour"),
])
def test_what_the_fast_pass_leaves_out_is_named_by_the_detailed_pass(event, field):
    with pytest.raises(InvalidEvents) as refused:
        event_batch.decode_batch(_body(_event(), event), EventBatch)
    assert _fields(refused.value) == {(1, field)}


def test_a_nul_inside_properties_is_refused_before_the_database_would_refuse_it():
    with pytest.raises(InvalidEvents) as refused:
        event_batch.decode_batch(_body(_event(), _event(properties={"k": "a\u0000b"})), EventBatch)
    assert _fields(refused.value) == {(1, "properties")}
    # The text "\u0000" (an escaped backslash, then "u0000") is no NUL: accepted, kept as it was.
    batch = event_batch.decode_batch(_body(_event(properties={"k": "\\u0000"})), EventBatch)
    assert msgspec.json.decode(bytes(batch.events[0].properties)) == {"k": "\\u0000"}


def test_properties_nested_too_deep_are_a_400_as_for_any_body():
    deep = b'{"events": [{"event_id": "a", "name": "n", "properties": {"k": ' + b"[" * 40 + b"]" * 40 + b"}}]}"
    with pytest.raises(ValidationException):
        event_batch.decode_batch(deep, EventBatch)
    recursion = b'{"events": [{"event_id": "a", "name": "n", "properties": {"k": ' + b"[" * 5000 + b"]" * 5000 + b"}}]}"
    with pytest.raises(ValidationException):
        event_batch.decode_batch(recursion, EventBatch)


def test_the_edge_refuses_a_nul_in_properties_and_accepts_spaced_out_properties(owner):
    refused = owner.post("/v1/events", json={"events": [_event(properties={"k": "\u0000"})]})
    assert refused.status_code == 422, refused.text
    assert refused.json()["error"]["details"]["events"][0]["field"] == "properties"
    # Over 8 KB as sent, under it once the client's spaces are gone: within the limit.
    spaced = '{"events": [{"event_id": "s1", "name": "page.view", "properties": {"blob": "%s"%s}}]}' % (
        "x" * 8000, " " * 1000)
    accepted = owner.post("/v1/events", content=spaced.encode(), headers={"content-type": "application/json"})
    assert accepted.status_code == 202, accepted.text
