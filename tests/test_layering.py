"""The layering rules of docs/architecture.md (Layers; Capabilities and their one-way arrows), checked on the source."""

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


def test_domain_never_imports_edge_workers_or_the_composition_roots():
    assert _offenders("domain", ("edge", "workers", "objecta")) == []


def test_edge_never_calls_stripe_or_sendgrid():
    assert _offenders("edge", ("stripe", "sendgrid")) == []


def test_nothing_imports_localstripe():
    for package in ("domain", "edge", "workers", "objecta", "schedules"):
        if (ROOT / package).exists():
            assert _offenders(package, ("localstripe",)) == []


# Which capabilities each capability may use: one way only, so a change to one never ripples back.
# Billing limits what team and agents do, so it reads their counts; they ask billing for the limits
# through ports of their own (`domain/team/limits.py`, `domain/agents/limits.py`) that billing implements.
# The shared kernel (db, errors, jobs, models, pagination, ratelimit, realtime) is open to every one.
CAPABILITIES = {
    # Accounts email their own people (verification and reset links). Alerts go through a port
    # (domain/accounts/alerts.py) that notifications implement (domain/notifications/security.py).
    "accounts": {"mail"},
    "activity": set(),
    "mail": set(),
    "scheduling": set(),
    "commands": set(),
    "notifications": {"accounts", "activity", "mail"},
    "analytics": {"notifications"},
    "agents": {"analytics", "commands", "notifications"},
    "team": {"accounts", "activity", "commands", "mail", "notifications"},
    "billing": {"accounts", "activity", "agents", "commands", "mail", "notifications", "team"},
    "support": {"accounts", "notifications", "mail"},
    # The admin realm sits above everything it administers; nothing imports it.
    "admin": {"accounts", "activity", "agents", "billing", "commands", "mail", "notifications", "team", "support"},
}


# Not a capability: the adapters implement capabilities' ports and may use them; no capability uses them.
ADAPTERS = "adapters"


def _capability_imports() -> dict[str, set[str]]:
    """For each capability, the other capabilities (and the adapters) its modules import."""
    used: dict[str, set[str]] = {}
    for path, names in _imports("domain").items():
        parts = Path(path).parts
        owner = parts[1] if len(parts) > 2 else None  # domain/<capability>/<module>.py
        if owner == ADAPTERS:
            continue
        for name in names:
            pieces = name.split(".")
            if pieces[0] != "domain" or len(pieces) < 2:
                continue
            target = pieces[1]
            if owner is None and (target in CAPABILITIES or target == ADAPTERS):
                used.setdefault("(shared kernel)", set()).add(target)
            elif owner is not None and target != owner and (target in CAPABILITIES or target == ADAPTERS):
                used.setdefault(owner, set()).add(target)
    return used


def test_every_capability_is_in_the_direction_table():
    found = {path.name for path in (ROOT / "domain").iterdir()
             if path.is_dir() and (path / "__init__.py").exists()}
    assert found == set(CAPABILITIES) | {ADAPTERS}


def test_capabilities_depend_on_each_other_one_way():
    wrong = {owner: targets - CAPABILITIES.get(owner, set())
             for owner, targets in _capability_imports().items() if targets - CAPABILITIES.get(owner, set())}
    assert wrong == {}, "capability → capabilities it may not use (see CAPABILITIES)"


def test_only_the_composition_roots_build_adapters():
    """`objecta/wiring.py` (and the tests) import the adapters; the edge, the workers and the domain never."""
    offenders = [f"{package}: {path}" for package in ("domain", "edge", "workers", "schedules")
                 for path, names in _imports(package).items()
                 if not path.startswith("domain/adapters/") and any(n.startswith("domain.adapters") for n in names)]
    assert offenders == []


def test_the_direction_table_has_no_cycle():
    def reaches(start: str, goal: str, seen: frozenset = frozenset()) -> bool:
        return any(t == goal or (t not in seen and reaches(t, goal, seen | {t})) for t in CAPABILITIES[start])
    assert [c for c in CAPABILITIES if reaches(c, c)] == []


LOADED = """
import json, sys
from litestar.testing import TestClient
from edge.app import create_app
from objecta.settings import load
import edge.relay
with TestClient(create_app(load())) as client:
    assert client.get("/v1/billing/plans").status_code == 200
    assert client.post("/v1/webhooks/stripe", content=b"{}", headers={"Stripe-Signature": "t=1,v1=x"}).status_code == 400
    assert client.post("/v1/auth/login", json={"email": "a@example.com", "password": "x"}).status_code == 401
print(json.dumps(sorted(sys.modules)))
"""


def test_the_edge_and_the_relay_never_load_the_stripe_or_sendgrid_sdks(test_env, settings):
    """Transitively, and while serving: billing routes and the webhook included."""
    import json
    import os
    import subprocess
    import sys

    done = subprocess.run([sys.executable, "-c", LOADED], env={**os.environ, **test_env}, cwd=ROOT,
                          capture_output=True, text=True, timeout=120)
    assert done.returncode == 0, done.stderr[-3000:]
    loaded = json.loads(done.stdout.strip().splitlines()[-1])
    assert "edge.routes.billing" in loaded  # the check ran where it matters
    assert [m for m in loaded if m.split(".")[0] in ("stripe", "sendgrid", "python_http_client")] == []
