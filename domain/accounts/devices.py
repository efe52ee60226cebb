"""Where a sign-in comes from: a user-agent family and a network, hashed.

A device is (browser or client family, operating system family, the /24 of an IPv4 address or the /64 of
an IPv6 one). Only a SHA-256 of it is stored with a readable label ("Firefox on Linux, 203.0.113.0/24");
a sign-in from a pair the person never used before is worth an email, a new patch version or a new
address in the same network is not.
"""

from __future__ import annotations

import hashlib
import ipaddress
import re
from dataclasses import dataclass

_BROWSERS = (("Edge", r"Edg(e|A|iOS)?/"), ("Opera", r"OPR/|Opera"), ("Firefox", r"Firefox/|FxiOS/"),
             ("Chrome", r"Chrome/|CriOS/"), ("Safari", r"Safari/"), ("curl", r"^curl/"),
             ("python-httpx", r"python-httpx/"), ("python-requests", r"python-requests/"))
_SYSTEMS = (("Windows", r"Windows"), ("Android", r"Android"), ("iOS", r"iPhone|iPad|iOS"),
            ("macOS", r"Mac OS X|Macintosh"), ("Linux", r"Linux|X11"))


@dataclass(frozen=True)
class SignInClient:
    """What the edge knows of the caller: the socket's peer address (decision 26) and the User-Agent."""

    ip: str | None = None
    user_agent: str | None = None


def family(user_agent: str | None) -> str:
    """'Firefox on Linux', 'curl', 'unknown client': coarse on purpose (versions change every month)."""
    agent = user_agent or ""
    browser = next((name for name, pattern in _BROWSERS if re.search(pattern, agent)), None)
    if browser is None:
        browser = agent.split("/", 1)[0].strip()[:40] or "unknown client"
    system = next((name for name, pattern in _SYSTEMS if re.search(pattern, agent)), None)
    return f"{browser} on {system}" if system else browser


def network(ip: str | None) -> str:
    """The /24 (IPv4) or /64 (IPv6) around `ip`; the text itself when it is no address (a test client)."""
    try:
        address = ipaddress.ip_address(ip or "")
    except ValueError:
        return (ip or "unknown network")[:64]
    prefix = 24 if address.version == 4 else 64
    return str(ipaddress.ip_network(f"{address}/{prefix}", strict=False))


def fingerprint(client: SignInClient) -> tuple[str, str]:
    """(SHA-256 of the device, its readable label)."""
    label = f"{family(client.user_agent)}, {network(client.ip)}"
    return hashlib.sha256(label.encode()).hexdigest(), label
