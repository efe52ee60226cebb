"""The port through which accounts raise suspicious-activity alerts.

Accounts notice (a sign-in from a new device, a burst of failed sign-ins, a reused refresh token); telling
people is the notifications capability's (domain/notifications/security.py implements this port), which
itself reads accounts' tables, so accounts only know this Protocol. Every call is inside the transaction
that noticed, so the alert is sent if and only if that transaction commits.
"""

from __future__ import annotations

import uuid
from typing import Protocol

from sqlalchemy.ext.asyncio import AsyncSession

from domain.accounts.models import User


class SecurityAlerts(Protocol):
    async def new_sign_in(self, session: AsyncSession, user: User, org_id: uuid.UUID | None, *, device: str,
                          ip: str | None, not_me_path: str) -> None:
        """`user` signed in from `device`, never seen before; `not_me_path` revokes every session."""
        ...

    async def failed_sign_ins(self, session: AsyncSession, user: User, org_id: uuid.UUID | None, *, count: int,
                              ip: str | None) -> None:
        """`count` failed sign-ins in a row on the account: it is locked for a while."""
        ...

    async def refresh_token_reused(self, session: AsyncSession, user: User, org_id: uuid.UUID | None, *,
                                   ip: str | None) -> None:
        """A spent refresh token came back (copied): its login was ended; the person and owners are told."""
        ...


class NoAlerts:
    """For processes that never sign anyone in (the workers): alerts go nowhere."""

    async def new_sign_in(self, session, user, org_id, *, device, ip, not_me_path) -> None:
        return None

    async def failed_sign_ins(self, session, user, org_id, *, count, ip) -> None:
        return None

    async def refresh_token_reused(self, session, user, org_id, *, ip) -> None:
        return None
