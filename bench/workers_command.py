"""The trivial command bench/workers.py runs through the real pool: `dramatiq workers.broker bench.workers_command`.

No command of the product is cheap (a deploy calls the agent runtime, an
invitation mails, billing calls Stripe), so the bench declares its own, with
the same `command_actor` every product command uses. Its work is one small
statement, the organization's name, so what is measured is the path around
the work: claim, tenant, middlewares, succeed, publish.
"""

from __future__ import annotations

from sqlalchemy import text

from domain.commands.models import CommandKind
from workers.runner import command_actor

TOUCH = CommandKind("bench.touch", queue="bench", actor="bench.touch")
WORK_SQL = "select name from organizations where id = :org_id"


@command_actor(TOUCH)
async def touch(session, command, ctx) -> dict:
    name = (await session.execute(text(WORK_SQL), {"org_id": command.org_id})).scalar_one()
    return {"organization": name}
