"""The `agents` queue: deploying agents."""

from __future__ import annotations

from domain.agents import service as agents
from workers.runner import command_actor


@command_actor(agents.DEPLOY, on_failure=agents.deploy_failed)
async def deploy(session, command, ctx) -> dict:
    return await agents.deploy(session, command, ctx.runtime)
