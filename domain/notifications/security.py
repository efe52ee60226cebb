"""Suspicious-activity alerts: the notifications side of accounts' `SecurityAlerts` port.

Each alert is a `security.*` notification (in-app, and an email no preference can turn off) and an entry
in the organization's activity log. A person with no organization has no inbox and no activity log: they
get the email alone.
"""

from __future__ import annotations

import uuid
from typing import Any

from sqlalchemy.ext.asyncio import AsyncSession

from domain.accounts.models import User
from domain.activity import service as activity
from domain.mail import service as mail
from domain.mail.rendering import when
from domain.models import utcnow
from domain.notifications import repository
from domain.notifications.service import notification_type, notify



class NotificationAlerts:
    """Implements `domain.accounts.alerts.SecurityAlerts`."""

    async def new_sign_in(self, session: AsyncSession, user: User, org_id: uuid.UUID | None, *, device: str,
                          ip: str | None, not_me_path: str) -> None:
        data = {"email": user.email, "device": device, "when": when(utcnow()), "action_path": not_me_path,
                "action_label": "This wasn't me: sign out everywhere"}
        await self._alert(session, user, org_id, "security.new_sign_in", data, ip=ip, recipients=[user.id],
                          details={"device": device})

    async def failed_sign_ins(self, session: AsyncSession, user: User, org_id: uuid.UUID | None, *, count: int,
                              ip: str | None) -> None:
        await self._alert(session, user, org_id, "security.failed_sign_ins", {"email": user.email, "count": count},
                          ip=ip, recipients=[user.id], details={"count": count})

    async def refresh_token_reused(self, session: AsyncSession, user: User, org_id: uuid.UUID | None, *,
                                   ip: str | None) -> None:
        owners = await repository.members_with_roles(session, org_id, ("owner",)) if org_id else []
        await self._alert(session, user, org_id, "security.refresh_token_reused",
                          {"name": user.name, "email": user.email}, ip=ip,
                          recipients=sorted({user.id, *owners}), details={})

    async def _alert(self, session: AsyncSession, user: User, org_id: uuid.UUID | None, type_: str,
                     data: dict[str, Any], *, ip: str | None, recipients: list[uuid.UUID],
                     details: dict[str, Any]) -> None:
        if org_id is None:
            title, body = notification_type(type_).render(data)
            mail.send_later(session, dedupe_key=f"{type_}:{uuid.uuid4()}", to=user.email, template="notification",
                            context={"title": title, "body": body, "action_path": data.get("action_path") or "",
                                     "action_label": data.get("action_label") or "Open in ObjectaLabs"})
            return
        notify(session, org_id, type_, data, recipients=recipients)
        await activity.record(session, user.id, org_id, type_, ip=ip, subject_user_id=user.id,
                              subject_email=user.email, details=details)
