"""Finding 1 of issue 14, the websocket part: 200 websockets on one token were all accepted.

A real relay with low limits: at most 3 websockets of one login open at once, 6 handshakes a minute.
"""

from __future__ import annotations

import json

import pytest
from websockets.exceptions import InvalidStatus
from websockets.sync.client import connect

from tests.fixtures.app import sign_up
from tests.fixtures.relay import RelayProcess
from tests.fixtures.worker import wait_for


@pytest.fixture(scope="module")
def limited_relay(test_env, tmp_path_factory):
    relay = RelayProcess({**test_env, "RATE_LIMIT_RELAY_CONNECTIONS": "3/0", "RATE_LIMIT_RELAY_CONNECTS": "6/60"},
                         tmp_path_factory.mktemp("relay") / "relay.log", []).start()
    yield relay
    assert relay.stop() == 0, relay.log()


def _refused(url: str):
    with pytest.raises(InvalidStatus) as caught:
        connect(url, open_timeout=10)
    return caught.value.response


def test_one_login_gets_a_few_websockets_at_once_and_a_few_handshakes_a_minute(limited_relay, client):
    account = sign_up(client)
    url = limited_relay.url(account.tokens["access_token"])
    opened = [connect(url, open_timeout=10) for _ in range(3)]
    full = _refused(url)
    assert full.status_code == 429
    body = json.loads(full.body)["error"]
    assert (body["code"], body["details"]["limit"]) == ("rate_limited", "relay_connections")
    assert int(full.headers["Retry-After"]) >= 1 and full.headers["RateLimit"].startswith('"relay_connections";r=0')

    # Another login of someone else is not affected.
    other = connect(limited_relay.url(sign_up(client).tokens["access_token"]), open_timeout=10)
    other.close()

    # Closing one frees its slot (the relay gives it back when the socket ends).
    opened.pop().close()
    again = wait_for(lambda: _try(url), what="a slot to be given back")
    opened.append(again)
    # Handshake 5, then 6 of the minute with two slots free; then the rate is spent whatever is open.
    opened.pop().close()
    opened.append(wait_for(lambda: _try(url), what="a slot to be given back"))
    opened.pop().close()
    opened.append(wait_for(lambda: _try(url), what="a slot to be given back"))
    for connection in opened:
        connection.close()
    spent = _refused(url)
    assert json.loads(spent.body)["error"]["details"]["limit"] == "relay_connects"
    assert spent.headers["RateLimit-Policy"] == '"relay_connects";q=6;w=60'


def _try(url):
    try:
        return connect(url, open_timeout=10)
    except InvalidStatus:
        return None
