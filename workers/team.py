"""The `team` queue: issuing invitation tokens and queueing their emails."""

from __future__ import annotations

from domain.team import invitations
from workers.runner import command_actor


@command_actor(invitations.INVITE)
async def invite(session, command, ctx) -> dict:
    return await invitations.issue(session, command)
