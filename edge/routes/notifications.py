"""Notifications: the inbox, read state, the badge and preferences."""

from __future__ import annotations

import uuid
from datetime import datetime
from typing import Annotated, Any

import msgspec
from litestar import Router, get, post, put
from litestar.status_codes import HTTP_200_OK

from domain.notifications import service as notifications
from domain.realtime import Publisher
from domain.errors import InvalidInput
from domain.notifications.errors import NotificationNotFound, UnknownChannel, UnknownNotificationType
from edge.auth import Tenant
from edge.schemas import Body, Clean, Cursor, Limit, out


NotificationType = Annotated[str, Clean, msgspec.Meta(min_length=1, max_length=100)]
Channel = Annotated[str, Clean, msgspec.Meta(min_length=1, max_length=50)]


class NotificationOut(msgspec.Struct):
    id: uuid.UUID
    type: str
    title: str
    body: str
    data: dict[str, Any]
    read_at: datetime | None
    created_at: datetime


class NotificationPage(msgspec.Struct):
    items: list[NotificationOut]
    next_cursor: str | None


class UnreadCount(msgspec.Struct):
    unread: int


class ReadAll(msgspec.Struct):
    marked: int
    unread: int


class Preferences(msgspec.Struct):
    """{type: {channel: enabled}} for every type and channel (in_app, email)."""

    preferences: dict[str, dict[str, bool]]


class PreferencesUpdate(Body):
    """Only what changes, e.g. {"preferences": {"agent.deployed": {"email": false}}}."""

    preferences: dict[NotificationType, dict[Channel, bool]]


@get("/", summary="My notifications, newest first", raises=[InvalidInput])
async def list_notifications(tenant: Tenant, cursor: Cursor = None, unread: bool = False,
                             limit: Limit = 50) -> NotificationPage:
    async with tenant("org.read") as (session, member):
        page = await notifications.inbox(session, member.principal.org_id, member.principal.user_id,
                                         unread_only=unread, cursor=cursor, limit=limit)
    return out(page, NotificationPage)


@get("/unread-count", summary="The badge: how many are unread")
async def unread_count(tenant: Tenant) -> UnreadCount:
    async with tenant("org.read") as (session, member):
        return UnreadCount(await notifications.unread_count(session, member.principal.org_id,
                                                            member.principal.user_id))


@post("/{notification_id:uuid}/read", status_code=HTTP_200_OK, summary="Mark one read", raises=[NotificationNotFound])
async def mark_read(tenant: Tenant, publisher: Publisher, notification_id: uuid.UUID) -> NotificationOut:
    async with tenant("org.read") as (session, member):
        notification = await notifications.mark_read(session, publisher, member.principal.org_id,
                                                     member.principal.user_id, notification_id)
    return out(notification, NotificationOut)


@post("/read-all", status_code=HTTP_200_OK, summary="Mark every notification read")
async def read_all(tenant: Tenant, publisher: Publisher) -> ReadAll:
    async with tenant("org.read") as (session, member):
        marked = await notifications.mark_all_read(session, publisher, member.principal.org_id,
                                                   member.principal.user_id)
    return ReadAll(marked=marked, unread=0)


@get("/preferences", summary="Which notifications I get, per type and channel")
async def get_preferences(tenant: Tenant) -> Preferences:
    async with tenant("org.read") as (session, member):
        return Preferences(await notifications.effective_preferences(session, member.principal.org_id,
                                                                     member.principal.user_id))


@put("/preferences", summary="Change some preferences; unknown types or channels are refused, and so is turning "
                              "off the email of a security alert",
     raises=[UnknownNotificationType, UnknownChannel, InvalidInput])
async def put_preferences(tenant: Tenant, data: PreferencesUpdate) -> Preferences:
    async with tenant("org.read") as (session, member):
        return Preferences(await notifications.update_preferences(session, member.principal.org_id,
                                                                  member.principal.user_id, data.preferences))


notifications_router = Router("/v1/notifications", tags=["notifications"], route_handlers=[
    list_notifications, unread_count, mark_read, read_all, get_preferences, put_preferences])
