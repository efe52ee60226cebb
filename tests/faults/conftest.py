"""The fault suite: real engines, real processes, faults injected from outside; figures at the end."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from tests.faults.figures import MEASURED, Figures
from tests.faults.stack import Edge

HERE = Path(__file__).parent


def pytest_collection_modifyitems(items):
    for item in items:
        if HERE in Path(item.fspath).parents:
            item.add_marker(pytest.mark.faults)


@pytest.fixture
def figures(request) -> Figures:
    return Figures(request.node.name)


@pytest.fixture
def start_edge(tmp_path):
    """Start real edges (uvicorn) with a given environment; all are stopped at the end of the test, failed or not."""
    started: list[Edge] = []

    def start(env: dict) -> Edge:
        edge = Edge(env, tmp_path / f"edge-{len(started)}.log")
        started.append(edge)
        return edge

    yield start
    for edge in started:
        edge.stop()


def pytest_terminal_summary(terminalreporter):
    if not MEASURED:
        return
    broker = "rabbitmq" if os.environ.get("BROKER_URL", "").startswith("amqp") else "redis"
    where = "machine's servers" if os.environ.get("DATABASE_URL") else "embedded servers"
    terminalreporter.section(f"fault figures ({where}, broker: {broker})")
    for test, measured in MEASURED:
        terminalreporter.write_line(test)
        for name, value in measured.items():
            shown = f"{value:.2f}" if isinstance(value, float) else str(value)
            terminalreporter.write_line(f"    {name:<44} {shown}")
