"""The client's address: the one function every part of the edge asks (docs/decisions.md, 26 and 76).

The socket's peer is the client unless that peer is one of `TRUSTED_PROXIES`.
Then X-Forwarded-For is read from the right: each hop a trusted proxy added is
skipped, and the first address not in the list is the client. Anything further
left was written by the client itself and is never believed.
"""

from __future__ import annotations

import ipaddress
from collections.abc import Iterable

from litestar.connection import ASGIConnection


def _address(raw: str) -> ipaddress.IPv4Address | ipaddress.IPv6Address | None:
    try:
        return ipaddress.ip_address(raw.strip().strip("[]"))
    except ValueError:
        return None


def _trusted(address, proxies: Iterable) -> bool:
    return address is not None and any(address in network for network in proxies)


def is_trusted_peer(peer: str | None, proxies: tuple) -> bool:
    """Whether the socket's peer is one of the trusted proxies (whose forwarded headers we read)."""
    return peer is not None and _trusted(_address(peer), proxies)


def resolve(peer: str | None, forwarded_for: list[str], proxies: tuple) -> str | None:
    """The client's address given the socket's `peer`, the X-Forwarded-For values in order, and the proxies."""
    if peer is None or not proxies or not _trusted(_address(peer), proxies):
        return peer
    hops = [hop.strip() for value in forwarded_for for hop in value.split(",") if hop.strip()]
    client = peer
    for hop in reversed(hops):
        address = _address(hop)
        if address is None:  # garbage in the header: stop at the last hop we could believe
            return client
        client = str(address)
        if not _trusted(address, proxies):
            return client
    return client  # every hop was a trusted proxy: the leftmost is as far as we can see


def client_ip(connection: ASGIConnection) -> str | None:
    """The client's IP of this request or websocket, through the trusted proxies (settings.http)."""
    peer = connection.client.host if connection.client else None
    proxies = connection.app.state.services.settings.http.trusted_proxies
    return resolve(peer, connection.headers.getall("x-forwarded-for", []), proxies)
