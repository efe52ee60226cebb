"""Decoding a batch of events once: a fast pass for good batches, a detailed one for bad ones.

A 1,000-event batch is about 220 KB of JSON. Decoding it straight into the
documented `EventBatch` costs ~4 ms, most of it in two regular expressions run
per event (the name's pattern and the NUL check); decoding it to Python
objects and converting again cost as much once more (decision 105). The fast
pass decodes into `WireBatch` (no per-event pattern; `properties` kept as the
raw JSON the client sent, never turned into dicts) and then checks, once per
batch: no `\\u0000` anywhere in the body, every distinct name against the
pattern, every `properties` an object and not nested too deep. Anything it does
not accept goes to the detailed pass, which lists every problem by index and
field (decision 57) or, for a batch the fast pass refused only out of caution
(an escaped backslash before `u0000`), returns the same `WireBatch`.
"""

from __future__ import annotations

import re
import uuid
from datetime import datetime
from typing import Annotated, Any

import msgspec
from litestar.exceptions import ClientException, ValidationException

from domain.analytics import service as analytics
from domain.analytics.errors import InvalidEvents
from domain.analytics.models import MAX_EVENT_ID_LENGTH, MAX_EVENTS, NAME_PATTERN
from edge.body import MAX_JSON_DEPTH, ApiRequest, too_deep

_NAME = re.compile(NAME_PATTERN)
# A body nests `{"events": [{"properties": ...}]}`: three levels above the properties.
_PROPERTIES_DEPTH = MAX_JSON_DEPTH - 3


# gc=False: a batch makes thousands of these and none can be part of a cycle.
class WireEvent(msgspec.Struct, forbid_unknown_fields=True, gc=False):
    """One event as the fast pass decodes it (the contract is `edge.routes.analytics.EventIn`)."""

    event_id: Annotated[str, msgspec.Meta(min_length=1, max_length=MAX_EVENT_ID_LENGTH)]
    name: str  # the pattern is checked once per distinct name
    agent_id: uuid.UUID | None = None
    occurred_at: Annotated[datetime, msgspec.Meta(tz=True)] | None = None
    # The JSON as sent (`null` when absent): copied into Postgres, never decoded here.
    properties: msgspec.Raw = msgspec.Raw(b"null")


class WireBatch(msgspec.Struct, forbid_unknown_fields=True):
    events: Annotated[list[WireEvent], msgspec.Meta(min_length=1, max_length=MAX_EVENTS)]


_decode_wire = msgspec.json.Decoder(WireBatch).decode
_encode = msgspec.json.Encoder().encode


def _accepted_fast(body: bytes, batch: WireBatch) -> bool:
    """The checks the fast decode left out, each once per batch or in C per event."""
    if b"\\u0000" in body:
        return False  # maybe a NUL (Postgres refuses it in text and jsonb): the detailed pass says where
    if not all(_NAME.match(name) for name in {event.name for event in batch.events}):
        return False
    for event in batch.events:
        raw = bytes(event.properties)
        if raw == b"null":
            continue
        if raw[:1] != b"{":
            return False
        if raw.count(b"{") + raw.count(b"[") > _PROPERTIES_DEPTH and too_deep(raw, _PROPERTIES_DEPTH):
            return False
    return True


def decode_batch(body: bytes, shape: type) -> WireBatch:
    """A batch whose every event has the right shape, or InvalidEvents naming every bad field.

    `shape` is the documented body type (`EventBatch`), used by the detailed pass.
    """
    try:
        batch = _decode_wire(body)
        if _accepted_fast(body, batch):
            return batch
    except (msgspec.ValidationError, msgspec.DecodeError, RecursionError):
        pass
    return _detailed(body, shape)


def _detailed(body: bytes, shape: type) -> WireBatch:
    if too_deep(body):
        message = f"the JSON body is nested deeper than {MAX_JSON_DEPTH} levels"
        raise ValidationException(detail=message, extra=[{"message": message, "source": "body"}])
    try:
        decoded = msgspec.json.decode(body)
    except msgspec.DecodeError as error:
        raise ClientException(f"request body is not valid JSON: {error}") from error
    try:
        checked = msgspec.convert(decoded, shape, strict=False)
    except msgspec.ValidationError:
        raise _refusal(decoded) from None
    events = [WireEvent(e.event_id, e.name, e.agent_id, e.occurred_at,
                        msgspec.Raw(_encode(e.properties) if e.properties is not None else b"null"))
              for e in checked.events]
    # The properties' type is any object, so nothing above refused a NUL inside them: Postgres would
    # refuse it in jsonb, and an accepted batch would never be stored.
    problems = [analytics.problem(index, "properties", "must not contain U+0000")
                for index, event in enumerate(events)
                if b"\\u0000" in bytes(event.properties).replace(b"\\\\", b"")]  # not an escaped backslash
    if problems:
        raise analytics.refuse(problems, len(events))
    return WireBatch(events)


# Each field's type on its own, to check every field of a bad event (not only the first problem).
def _field_types() -> dict[str, Any]:
    from edge.routes.analytics import EventId, EventName, OccurredAt, Properties

    return {"event_id": EventId, "name": EventName, "agent_id": uuid.UUID | None,
            "occurred_at": OccurredAt | None, "properties": Properties | None}


def _event_problems(index: int, raw: Any, fields: dict[str, Any]) -> list[dict[str, Any]]:
    """Every bad field of one event (msgspec stops at the first; a client wants them all)."""
    if not isinstance(raw, dict):
        return [analytics.problem(index, "", "an event is an object")]
    problems = [analytics.problem(index, key, "unknown field") for key in raw if key not in fields]
    for field in ("event_id", "name"):
        if field not in raw:
            problems.append(analytics.problem(index, field, "required"))
    for field, kind in fields.items():
        if field in raw:
            try:
                msgspec.convert(raw[field], kind, strict=False)
            except msgspec.ValidationError as error:
                problems.append(analytics.problem(index, field, str(error).split(" - at ")[0]))
    return problems


def _refusal(body: Any) -> InvalidEvents:
    if not isinstance(body, dict) or not isinstance(body.get("events"), list):
        return InvalidEvents("the body must be {\"events\": [...]}",
                             details={"events": [analytics.problem(-1, "events", "required, a list")]})
    events = body["events"]
    problems = [analytics.problem(-1, key, "unknown field") for key in body if key != "events"]
    if not 1 <= len(events) <= MAX_EVENTS:
        problems.append(analytics.problem(-1, "events", f"{len(events)} events; 1 to {MAX_EVENTS} per request"))
    fields = _field_types()
    for index, raw in enumerate(events[:MAX_EVENTS]):
        problems += _event_problems(index, raw, fields)
    return analytics.refuse(problems, len(events))


class EventsRequest(ApiRequest):
    """The request of `POST /v1/events`: its JSON is the batch, decoded once.

    Litestar binds `data` from `json()` and passes an instance of the declared
    type through without converting it again, so `json()` answers the documented
    `EventBatch` holding the fast pass's `WireEvent`s (same fields, `properties`
    still raw JSON). Cached in the request's state: the shape check before the
    handler and the binding share one decode.
    """

    shape: type = object  # the documented body type, set by edge.routes.analytics

    async def json(self) -> Any:
        batch = getattr(self.state, "event_batch", None)
        if batch is None:
            wire = decode_batch(await self.body(), self.shape)
            batch = self.state.event_batch = self.shape(events=wire.events)
        return batch
