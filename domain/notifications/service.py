"""Notifications: the seed's delivery flow.

    trigger → notify() → fan out to recipients → save → check preferences
            → push over the relay → queue the email → update the badge

Any capability calls `notify(session, org_id, type, data, recipients=None)`
inside its own transaction; everything after runs in the `notifications`
worker pool: the fan-out delivers to a small audience in its own
transaction (one statement per person, decision 127) and gives a big one a
message per person. Emails are always messages of their own, so a slow
mail server delays no one's in-app notification. Ids are derived from the
notification batch and the recipient, so a redelivered message saves,
counts and emails nothing twice.
"""

from __future__ import annotations

import uuid
from typing import Any

from sqlalchemy.ext.asyncio import AsyncSession

from domain import jobs, pagination
from domain.db import FirstRead, bind_tenant
from domain.mail import service as mail
from domain.errors import InvalidInput
from domain.models import utcnow
from domain.notifications import repository
from domain.notifications.errors import NotificationNotFound, UnknownChannel, UnknownNotificationType
from domain.notifications.models import Notification
from domain.notifications.types import CHANNELS, TYPES, NotificationType, default_enabled, locked
from domain.realtime import Publisher, publish_after_commit, publish_all_after_commit, user_channel

QUEUE = "notifications"
FAN_OUT = jobs.JobKind("notifications.fan_out", queue=QUEUE)
DELIVER = jobs.JobKind("notifications.deliver", queue=QUEUE)
BROADCAST = jobs.JobKind("notifications.broadcast", queue=QUEUE)
BROADCAST_BATCH = 500
# A notification for this many people or fewer is delivered in its fan-out's own transaction (decision 127).
INLINE_AUDIENCE = 20


def notification_type(name: str) -> NotificationType:
    try:
        return TYPES[name]
    except KeyError:
        raise UnknownNotificationType(f"unknown notification type {name!r}",
                                      details={"known": sorted(TYPES)}) from None


def notify(session: AsyncSession, org_id: uuid.UUID, type_: str, data: dict[str, Any],
           recipients: list[uuid.UUID] | None = None) -> uuid.UUID:
    """Notify people of an organization once this transaction commits.

    `recipients` None means the type's audience (e.g. billing → owners and
    admins). Returns the batch id that the notifications' ids derive from.
    """
    notification_type(type_)
    batch_id = uuid.uuid4()
    jobs.enqueue(session, FAN_OUT, str(batch_id), str(org_id), type_, data,
                 [str(r) for r in recipients] if recipients is not None else None)
    return batch_id


async def fan_out(session: AsyncSession, publisher: Publisher, batch_id: uuid.UUID, org_id: uuid.UUID, type_: str,
                  data: dict[str, Any], recipients: list[uuid.UUID] | None) -> int:
    """Resolve the recipients (current members only) and deliver to each.

    An audience of up to INLINE_AUDIENCE people is delivered in this transaction, one statement each
    (decision 127): the common notification has one to a few recipients, and a message and a transaction
    per person cost more than their delivery. A bigger one gets a message per person, so the pool
    delivers it in parallel and one person's retry repeats no one else's."""
    read = audience_read(org_id, type_, recipients)
    people = await repository.audience(session, read) if read is not None else []
    if len(people) > INLINE_AUDIENCE:
        for person in people:
            jobs.enqueue(session, DELIVER, str(batch_id), str(org_id), str(person), type_, data)
        return len(people)
    for person in people:
        await bind_tenant(session, user_id=person)  # row-level security: the person's own rows
        await deliver(session, publisher, batch_id=batch_id, org_id=org_id, user_id=person, type_=type_, data=data)
    return len(people)


def audience_read(org_id: uuid.UUID, type_: str, recipients: list[uuid.UUID] | None) -> FirstRead | None:
    """What `fan_out` reads first, for its transaction to begin with; None when there is no one to ask
    about (an empty list of recipients)."""
    if recipients == []:
        return None
    return repository.audience_read(org_id, notification_type(type_).audience, recipients)


async def effective_preferences(session: AsyncSession, org_id: uuid.UUID,
                                user_id: uuid.UUID) -> dict[str, dict[str, bool]]:
    """Every type × channel for a person: their choices over the defaults."""
    chosen = await repository.preferences(session, org_id, user_id)
    return {name: {channel: locked(kind, channel) or chosen.get((name, channel), default_enabled(kind, channel))
                   for channel in CHANNELS}
            for name, kind in TYPES.items()}


async def deliver(session: AsyncSession, publisher: Publisher, *, batch_id: uuid.UUID, org_id: uuid.UUID,
                  user_id: uuid.UUID, type_: str, data: dict[str, Any]) -> Notification | None:
    """Save, push and email one person's notification, as their preferences say (idempotent); None when
    they are no longer a member. The transaction's person must be `user_id` (row-level security)."""
    kind = notification_type(type_)
    title, body = kind.render(data)
    notification_id = uuid.uuid5(batch_id, str(user_id))
    notification = Notification(id=notification_id, org_id=org_id, user_id=user_id, type=type_, title=title,
                                body=body, data=data, created_at=utcnow(), read_at=None)
    delivered = await repository.deliver_once(session, {
        column: getattr(notification, column) for column in
        ("id", "org_id", "user_id", "type", "title", "body", "data", "created_at")},
        in_app_default=default_enabled(kind, "in_app"), in_app_locked=locked(kind, "in_app"))
    if delivered is None:
        return None
    email, email_chosen, unread = delivered
    if unread is not None:  # saved now, not by an earlier delivery of the same batch
        publish_all_after_commit(session, publisher, user_channel(user_id), [
            ("notification.created", notification.as_event()), ("notification.badge", {"unread": unread})])
    if locked(kind, "email") or (default_enabled(kind, "email") if email_chosen is None else email_chosen):
        # Queued even on a redelivery: the email's dedupe key makes a second send a no-op,
        # and a first delivery that died before queueing it still gets its email.
        mail.send_later(session, dedupe_key=f"notification:{notification_id}", to=email,
                        template="notification", context={
                            "title": title, "body": body,
                            # A security alert carries its own action ("this wasn't me"); others open the inbox.
                            "action_path": data.get("action_path") or "/notifications",
                            "action_label": data.get("action_label") or "Open in ObjectaLabs"})
    return notification


async def inbox(session: AsyncSession, org_id: uuid.UUID, user_id: uuid.UUID, *, unread_only: bool,
                cursor: str | None, limit: int) -> pagination.Page[Notification]:
    return await repository.inbox(session, org_id, user_id, unread_only=unread_only, cursor=cursor, limit=limit)


async def unread_count(session: AsyncSession, org_id: uuid.UUID, user_id: uuid.UUID) -> int:
    return await repository.unread_count(session, org_id, user_id)


async def mark_read(session: AsyncSession, publisher: Publisher, org_id: uuid.UUID, user_id: uuid.UUID,
                    notification_id: uuid.UUID) -> Notification:
    notification = await repository.mark_read(session, notification_id, utcnow())
    if notification is None:
        notification = await repository.get(session, notification_id)
        if notification is None:
            raise NotificationNotFound("notification not found")
        return notification  # already read: nothing changes
    unread = await repository.bump_badge(session, org_id, user_id, -1)
    publish_after_commit(session, publisher, user_channel(user_id), "notification.badge", {"unread": unread})
    return notification


async def mark_all_read(session: AsyncSession, publisher: Publisher, org_id: uuid.UUID, user_id: uuid.UUID) -> int:
    """Mark every unread notification read; returns how many were."""
    marked = await repository.mark_all_read(session, org_id, user_id, utcnow())
    await repository.reset_badge(session, org_id, user_id)
    publish_after_commit(session, publisher, user_channel(user_id), "notification.badge", {"unread": 0})
    return marked


async def update_preferences(session: AsyncSession, org_id: uuid.UUID, user_id: uuid.UUID,
                             changes: dict[str, dict[str, bool]]) -> dict[str, dict[str, bool]]:
    """Apply {type: {channel: enabled}}; unknown types or channels are refused, nothing half-applied."""
    for type_, channels in changes.items():
        notification_type(type_)
        for channel in channels:
            if channel not in CHANNELS:
                raise UnknownChannel(f"unknown channel {channel!r} for {type_}", details={"known": list(CHANNELS)})
            if not channels[channel] and locked(notification_type(type_), channel):
                raise InvalidInput(f"the email of {type_} cannot be turned off: it is a security alert",
                                   details={"field": type_, "channel": channel})
    for type_, channels in changes.items():
        for channel, enabled in channels.items():
            await repository.set_preference(session, org_id, user_id, type_, channel, enabled)
    return await effective_preferences(session, org_id, user_id)


def broadcast(session: AsyncSession, type_: str, data: dict[str, Any],
              org_ids: list[uuid.UUID] | None = None) -> uuid.UUID:
    """A system notification to every member of every (or the given) organization.

    Fanned out by the worker in batches of organizations; every id derives
    from the broadcast id, so a retried batch notifies no one twice.
    """
    if notification_type(type_).category != "system":
        raise UnknownNotificationType("only system notifications can be broadcast", details={"type": type_})
    broadcast_id = uuid.uuid4()
    jobs.enqueue(session, BROADCAST, str(broadcast_id), type_, data,
                 [str(o) for o in org_ids] if org_ids is not None else None, None)
    return broadcast_id


async def broadcast_batch(session: AsyncSession, broadcast_id: uuid.UUID, type_: str, data: dict[str, Any],
                          org_ids: list[uuid.UUID] | None, after: uuid.UUID | None) -> uuid.UUID | None:
    """One batch of a broadcast (system scope): queue each organization's fan-out; the cursor to continue from."""
    if org_ids is None:
        batch = await repository.organization_ids_after(session, after, BROADCAST_BATCH)
    else:
        remaining = sorted(o for o in org_ids if after is None or o > after)
        batch = remaining[:BROADCAST_BATCH]
    for org_id in batch:
        jobs.enqueue(session, FAN_OUT, str(uuid.uuid5(broadcast_id, str(org_id))),
                     str(org_id), type_, data, None)
    return batch[-1] if len(batch) == BROADCAST_BATCH else None
