"""Which role may do what: the one table every guard reads.

Roles are ranked; a permission names the lowest role that holds it. Handlers
never compare roles themselves, they ask for a permission.
"""

from __future__ import annotations

ROLES = ("viewer", "member", "admin", "owner")  # lowest to highest
RANK = {role: rank for rank, role in enumerate(ROLES)}

PERMISSIONS: dict[str, str] = {
    "org.read": "viewer",
    "agents.read": "viewer",
    "agents.manage": "member",
    "agents.deploy": "member",
    "conversations.write": "member",
    "commands.read": "viewer",
    "analytics.read": "viewer",
    "events.write": "member",
    "api_keys.manage": "admin",
    "team.read": "viewer",
    "team.invite": "admin",
    "team.change_roles": "admin",
    "team.remove": "admin",
    "team.read_activity": "admin",
    # Granting the owner role, or changing, removing or un-inviting an owner.
    "team.manage_owners": "owner",
    "team.transfer_ownership": "owner",
    "billing.read": "admin",
    "billing.manage": "owner",
    "support.write": "member",
}


def allows(role: str, permission: str) -> bool:
    """True if `role` holds `permission`; an unknown permission is a bug, not a denial."""
    return RANK[role] >= RANK[PERMISSIONS[permission]]
