"""The agent runtime port: where a deployed agent actually runs.

The serving infrastructure for agents is outside this backend; deploying
hands it an agent's definition and gets an endpoint back. `LocalRuntime` is
the stand-in used by `objecta up` and the tests. Like the Stripe stand-in's
test cards, it knows a few simulated models that behave badly on purpose so
every failure path can be exercised end to end:

    sim:slow:<seconds>   takes that long to deploy
    sim:flaky:<n>        fails transiently on the first n attempts
    sim:unavailable      fails permanently (the model is not offered)
    sim:crash            kills the worker process (a poison message)

Any other model deploys at once. Simulating is a development and test tool
(SIMULATED_MODELS, off in production): a runtime built with `simulate=False`
refuses `sim:` models as unavailable, so an agent given one while it was on
cannot stall or crash a production worker.
"""

from __future__ import annotations

import asyncio
import os
from dataclasses import dataclass
from typing import Protocol

from domain.commands.errors import CommandFailed, TransientFailure


@dataclass(frozen=True)
class Deployment:
    endpoint: str


@dataclass(frozen=True)
class AgentSpec:
    agent_id: str
    version: int
    model: str
    instructions: str


class AgentRuntime(Protocol):
    async def deploy(self, spec: AgentSpec, attempt: int) -> Deployment: ...


SIMULATED = "sim:"


def is_simulated(model: str) -> bool:
    return model.startswith(SIMULATED)


class LocalRuntime:
    def __init__(self, *, simulate: bool):
        self.simulate = simulate

    async def deploy(self, spec: AgentSpec, attempt: int) -> Deployment:
        kind, _, argument = spec.model.removeprefix(SIMULATED).partition(":")
        if is_simulated(spec.model):
            if not self.simulate:
                raise CommandFailed(f"model '{spec.model}' is not available: simulated models are turned off "
                                    "here; choose another model and deploy again")
            if kind == "slow":
                await asyncio.sleep(float(argument or 1))
            elif kind == "flaky" and attempt <= int(argument or 1):
                raise TransientFailure(f"runtime busy (attempt {attempt}); will retry")
            elif kind == "unavailable":
                raise CommandFailed(f"model '{spec.model}' is not available; choose another model and deploy again")
            elif kind == "crash":
                os._exit(70)
        return Deployment(endpoint=f"local://agents/{spec.agent_id}/v{spec.version}")
