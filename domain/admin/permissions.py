"""Which admin role may do what: the one table every admin route asks.

Admin roles are not ranked like tenant roles: billing and support do
different work, so a permission names the set of roles that hold it.
"""

from __future__ import annotations

ROLES = ("support", "billing", "superadmin")
EVERY_ADMIN = frozenset(ROLES)

PERMISSIONS: dict[str, frozenset[str]] = {
    "dashboard.read": EVERY_ADMIN,
    "system.read": EVERY_ADMIN,
    "customers.read": EVERY_ADMIN,
    "customers.note": EVERY_ADMIN,
    # Suspending locks every member out at once: kept for the top role.
    "customers.suspend": frozenset({"superadmin"}),
    "customers.grant": frozenset({"billing", "superadmin"}),  # extra seats or agents
    "customers.extend_trial": frozenset({"billing", "superadmin"}),  # a Stripe change: a billing command
    "tickets.read": frozenset({"support", "superadmin"}),
    "tickets.write": frozenset({"support", "superadmin"}),
    "broadcasts.send": frozenset({"superadmin"}),
    "audit.read": frozenset({"superadmin"}),
    "sessions.own": EVERY_ADMIN,  # list and revoke one's own sessions
}


def allows(role: str, permission: str) -> bool:
    """True if `role` holds `permission`; an unknown permission is a bug (KeyError), not a denial."""
    return role in PERMISSIONS[permission]
