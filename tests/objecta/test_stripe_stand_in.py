"""Finding 6 of issue 14, second half: the Stripe stand-in listens on loopback only."""

from __future__ import annotations

from pathlib import Path

import httpx

from objecta import embedded

WILDCARDS = {"00000000", "00000000000000000000000000000000"}  # 0.0.0.0 and ::


def _listening_addresses(port: int) -> list[str]:
    """The local addresses of the sockets listening on `port`, as the kernel lists them (hex)."""
    found = []
    for table in ("/proc/net/tcp", "/proc/net/tcp6"):
        for line in Path(table).read_text().splitlines()[1:]:
            local, state = line.split()[1], line.split()[3]
            address, _, hex_port = local.partition(":")
            if state == "0A" and int(hex_port, 16) == port:  # 0A: LISTEN
                found.append(address)
    return found


def test_the_stand_in_answers_on_loopback_and_listens_nowhere_else(tmp_path):
    server = embedded.start_localstripe(embedded.free_port(), log=tmp_path / "localstripe.log")
    try:
        answer = httpx.get(f"{server.url}/v1/customers", headers={"Authorization": "Bearer sk_test_x"}, timeout=10)
        assert answer.status_code == 200, answer.text
        port = int(server.url.rsplit(":", 1)[1])
        listening = _listening_addresses(port)
        # Before: one socket on `::` (every interface, IPv4 included).
        assert listening and not WILDCARDS & set(listening), listening
        assert all(a.endswith("0100007F") or a == "0100007F" for a in listening), listening  # 127.0.0.1
    finally:
        server.stop()
