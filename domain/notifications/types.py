"""Every kind of notification: its words, who gets it by default, and its channels.

Titles and bodies are `str.format` templates over the notification's data;
a missing key renders empty rather than failing a delivery. HTML escaping
happens in the email templates, never here: in-app notifications are JSON.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

CHANNELS = ("in_app", "email")

EVERYONE = ("owner", "admin", "member", "viewer")
OWNERS_AND_ADMINS = ("owner", "admin")
AGENT_MANAGERS = ("owner", "admin", "member")


@dataclass(frozen=True)
class NotificationType:
    name: str
    title: str
    body: str
    audience: tuple[str, ...]  # roles notified when the caller names no recipients
    email: bool = True  # the email channel's default; in-app is on by default for every type
    # Security alerts: the email cannot be turned off (a preference saying otherwise is refused and ignored).
    email_locked: bool = False

    @property
    def category(self) -> str:
        return self.name.split(".")[0]

    def render(self, data: dict[str, Any]) -> tuple[str, str]:
        values = _Blank(data)
        return self.title.format_map(values), self.body.format_map(values)


class _Blank(dict):
    def __missing__(self, key: str) -> str:
        return ""


TYPES: dict[str, NotificationType] = {t.name: t for t in (
    NotificationType("system.maintenance", "Scheduled maintenance {window}",
                     "{message}", EVERYONE),
    NotificationType("system.update", "{headline}", "{message}", EVERYONE, email=False),
    NotificationType("system.downtime", "Service disruption", "{message}", EVERYONE),
    NotificationType("billing.payment_due", "Payment due: {amount}",
                     "An invoice of {amount} is still unpaid. Update your payment method before {due_date}, "
                     "or new agents, deploys and invitations will be paused until it is paid.", OWNERS_AND_ADMINS),
    NotificationType("billing.payment_failed", "Payment failed",
                     "We could not charge your payment method: {reason}. Update it to keep your plan.",
                     OWNERS_AND_ADMINS),
    NotificationType("billing.trial_ending", "Your {plan} trial ends in {days}",
                     "On {ends_on} the card on file will be charged {amount} for the {plan} plan. "
                     "Change the plan or cancel before then if you want something else.", OWNERS_AND_ADMINS),
    NotificationType("billing.quota_warning", "{percent}% of this month's messages used",
                     "{used} of the {quota} messages your {plan} plan includes in {month} are used. "
                     "Messages keep working past the quota; {upgrade_to} includes more.", OWNERS_AND_ADMINS),
    NotificationType("billing.quota_reached", "This month's message quota is reached",
                     "All {quota} messages your {plan} plan includes in {month} are used. "
                     "Messages keep working for now; upgrade to {upgrade_to} to stay within your plan.",
                     OWNERS_AND_ADMINS),
    NotificationType("billing.restricted", "Your organization is restricted",
                     "Payment has failed for {days} days: new agents, deploys and invitations are paused "
                     "until an invoice is paid. Update your payment method to lift this.", OWNERS_AND_ADMINS),
    NotificationType("billing.restored", "Your organization is no longer restricted",
                     "An invoice was paid: new agents, deploys and invitations work again.", OWNERS_AND_ADMINS),
    NotificationType("agent.error", "{agent_name} reported an error", "{message}", AGENT_MANAGERS),
    NotificationType("agent.deployed", "{agent_name} is live",
                     "Version {version} of {agent_name} was deployed.", AGENT_MANAGERS),
    # Raised from the agent's hot counter once analytics exists (see docs/status.md).
    NotificationType("agent.high_traffic", "{agent_name} has high traffic",
                     "{count} requests in the last {window}.", AGENT_MANAGERS, email=False),
    NotificationType("team.invited", "{inviter_name} invited {email}",
                     "{email} was invited to join as {role}.", OWNERS_AND_ADMINS, email=False),
    NotificationType("team.joined", "{name} joined {organization_name}",
                     "{name} accepted the invitation and joined as {role}.", OWNERS_AND_ADMINS),
    # To the person who opened the ticket (recipients named by support): an admin answered publicly.
    NotificationType("support.ticket_replied", "Support replied: {subject}", "{excerpt}", ()),
    # To the person who opened the ticket: its status changed (resolved, closed...).
    NotificationType("support.ticket_updated", "Your ticket is {status}: {subject}",
                     "The support ticket \"{subject}\" is now {status}.", (), email=False),
    NotificationType("team.role_changed", "Your role is now {role}",
                     "{changed_by} changed your role in {organization_name} to {role}.", ()),
    # Suspicious activity on a person's account (domain/notifications/security.py). The email always goes.
    NotificationType("security.new_sign_in", "New sign-in to your ObjectaLabs account",
                     "Someone signed in to your account ({email}) from {device} at {when}. If it was you, there "
                     "is nothing to do. If it was not, follow the link: every session of your account ends; then "
                     "reset your password.", (), email_locked=True),
    NotificationType("security.failed_sign_ins", "Failed sign-ins to your ObjectaLabs account",
                     "{count} sign-ins to your account ({email}) failed in a row; signing in is paused for a "
                     "while. If it was not you, nothing is needed: your password was not accepted. Consider "
                     "a longer password.", (), email_locked=True),
    NotificationType("security.refresh_token_reused", "A refresh token was reused on {name}'s account",
                     "A refresh token of {name} ({email}) was used twice, which means it was copied. That "
                     "sign-in was ended everywhere. {name} should sign in again and change their password.",
                     (), email_locked=True),
)}


def locked(notification_type: NotificationType, channel: str) -> bool:
    """True when no preference may turn this channel off."""
    return channel == "email" and notification_type.email_locked


def default_enabled(notification_type: NotificationType, channel: str) -> bool:
    return notification_type.email if channel == "email" else True
