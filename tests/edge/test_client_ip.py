"""Finding 3 of issue 14: X-Forwarded-For is believed only from TRUSTED_PROXIES (docs/decisions.md, 76)."""

from __future__ import annotations

import ipaddress
import uuid

import httpx
import pytest

from edge.client_ip import resolve
from tests.fixtures.app import mark_verified
from tests.fixtures.edge_process import launched_edge


def _invite_and_read_ip(base: str, settings, headers: dict) -> str:
    with httpx.Client(base_url=base, timeout=30) as http:
        signed_up = http.post("/v1/auth/signup", json={
            "email": f"xff-{uuid.uuid4().hex[:10]}@example.com", "password": "correct horse battery",
            "name": "Owner", "organization_name": "Acme"})
        assert signed_up.status_code == 201, signed_up.text
        auth = {"Authorization": f"Bearer {signed_up.json()['access_token']}"}
        mark_verified(settings, signed_up.json()["user_id"])  # only a verified address may invite
        invited = http.post("/v1/team/invitations", json={"email": f"i-{uuid.uuid4().hex[:8]}@example.com",
                                                          "role": "member"}, headers={**auth, **headers})
        assert invited.status_code == 202, invited.text
        [sent] = http.get("/v1/team/activity", headers=auth).json()["items"]
        return sent["ip"]


@pytest.mark.parametrize("trusted, recorded", [("", "127.0.0.1"), ("127.0.0.1/32", "6.6.6.6")],
                         ids=["no-trusted-proxies", "loopback-trusted"])
def test_the_activity_log_records_forwarded_for_only_from_a_trusted_proxy(test_env, settings, tmp_path,
                                                                          trusted, recorded):
    # The edge as `objecta up` runs it: before, uvicorn itself believed X-Forwarded-For from loopback.
    with launched_edge({**test_env, "TRUSTED_PROXIES": trusted}, tmp_path / "edge.log") as base:
        assert _invite_and_read_ip(base, settings, {"X-Forwarded-For": "6.6.6.6"}) == recorded


PROXIES = (ipaddress.ip_network("10.0.0.0/8"), ipaddress.ip_network("127.0.0.1/32"))


@pytest.mark.parametrize("peer, forwarded, expected", [
    ("127.0.0.1", [], "127.0.0.1"),
    ("8.8.8.8", ["6.6.6.6"], "8.8.8.8"),  # an untrusted peer's header is ignored
    ("10.0.0.2", ["6.6.6.6"], "6.6.6.6"),
    # The client wrote the leftmost hop itself; the rightmost untrusted one is what our proxy saw.
    ("10.0.0.2", ["1.1.1.1, 5.5.5.5, 10.0.0.9"], "5.5.5.5"),
    ("10.0.0.2", ["1.1.1.1", "5.5.5.5"], "5.5.5.5"),  # two header lines read as one list
    ("10.0.0.2", ["garbage, 5.5.5.5"], "5.5.5.5"),
    ("10.0.0.2", ["5.5.5.5, garbage"], "10.0.0.2"),  # nothing past an unreadable hop is believed
    ("10.0.0.2", ["10.0.0.5"], "10.0.0.5"),  # only proxies: the leftmost
    ("testclient", ["6.6.6.6"], "testclient"),
    (None, ["6.6.6.6"], None),
])
def test_the_client_is_the_rightmost_untrusted_hop(peer, forwarded, expected):
    assert resolve(peer, forwarded, PROXIES) == expected


def test_without_trusted_proxies_the_peer_is_the_client():
    assert resolve("127.0.0.1", ["6.6.6.6"], ()) == "127.0.0.1"
