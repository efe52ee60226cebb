"""The layering rules of STYLE.md, checked on the source."""

from __future__ import annotations

import ast
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent


def _imports(package: str) -> dict[str, set[str]]:
    found = {}
    for path in (ROOT / package).rglob("*.py"):
        names = set()
        for node in ast.walk(ast.parse(path.read_text())):
            if isinstance(node, ast.Import):
                names |= {alias.name for alias in node.names}
            elif isinstance(node, ast.ImportFrom) and node.module:
                names.add(node.module)
        found[str(path.relative_to(ROOT))] = names
    return found


def _offenders(package: str, forbidden: tuple[str, ...]) -> list[str]:
    return sorted(f"{path}: {name}" for path, names in _imports(package).items()
                  for name in names if name.split(".")[0] in forbidden)


def test_domain_never_imports_edge_or_workers():
    assert _offenders("domain", ("edge", "workers")) == []


def test_edge_never_calls_stripe_or_sendgrid():
    assert _offenders("edge", ("stripe", "sendgrid")) == []


def test_nothing_imports_localstripe():
    for package in ("domain", "edge", "workers", "objecta", "schedules"):
        if (ROOT / package).exists():
            assert _offenders(package, ("localstripe",)) == []
