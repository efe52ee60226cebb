"""The websocket relay, as browsers use it: real relay processes, real Redis and Postgres."""

from __future__ import annotations

import asyncio
import json
import socket
import threading
import time
import urllib.request

import pytest
import redis
import redis.asyncio as aioredis
from websockets.exceptions import ConnectionClosed, InvalidStatus
from websockets.sync.client import connect

from domain.realtime import RedisPublisher, org_channel, user_channel
from tests.fixtures.app import forge_token, sign_up
from tests.fixtures.relay import publish


@pytest.fixture(scope="module")
def relay(start_relay):
    # A short recheck so that a logout reaches open connections within a test's patience.
    return start_relay("--recheck-interval", "0.5")


def receive(connection, timeout: float = 15) -> dict:
    return json.loads(connection.recv(timeout=timeout))


def assert_nothing_more(connection, wait: float = 0.3) -> None:
    with pytest.raises(TimeoutError):
        connection.recv(timeout=wait)


def refusal(url: str) -> tuple[int, dict]:
    with pytest.raises(InvalidStatus) as caught:
        connect(url, open_timeout=10)
    response = caught.value.response
    return response.status_code, json.loads(response.body)


def test_handshakes_without_a_valid_token_are_refused_in_the_error_format(relay, settings):
    expired = forge_token(settings, iat=int(time.time()) - 7200, exp=int(time.time()) - 5)
    for token, code in [(None, "missing_token"), ("garbage", "invalid_token"), (expired, "token_expired"),
                        (forge_token(settings, aud="someone-else"), "invalid_token")]:
        status, body = refusal(relay.url(token))
        assert status == 401, body
        assert body["error"]["code"] == code
        assert set(body["error"]) == {"code", "message", "details"}
        assert "Traceback" not in json.dumps(body)


def test_a_logged_out_session_is_refused(relay, client):
    account = sign_up(client)
    assert account.post("/v1/auth/logout").status_code == 204
    status, body = refusal(relay.url(account.tokens["access_token"]))
    assert (status, body["error"]["code"]) == (401, "session_revoked")


def test_a_malformed_last_event_id_is_400(relay, client):
    account = sign_up(client)
    for bad in ["abc", "-1", "12-0", "1" * 30]:
        status, body = refusal(relay.url(account.tokens["access_token"], bad))
        assert (status, body["error"]["code"]) == (400, "invalid_last_event_id"), bad


def test_user_and_org_events_are_delivered_with_their_ids(relay, client, settings):
    account = sign_up(client)
    with relay.connect(account) as browser:
        ids = publish(settings, (user_channel(account.user_id), "notification.created", {"title": "hi"}),
                      (org_channel(account.org_id), "analytics.counters", {"events": 3}))
        assert receive(browser) == {"id": ids[0], "type": "notification.created", "data": {"title": "hi"}}
        assert receive(browser) == {"id": ids[1], "type": "analytics.counters", "data": {"events": 3}}
        assert_nothing_more(browser)


def test_without_last_event_id_only_live_events_arrive(relay, client, settings):
    account = sign_up(client)
    publish(settings, (user_channel(account.user_id), "notification.badge", {"unread": 1}))
    with relay.connect(account) as browser:
        [live] = publish(settings, (user_channel(account.user_id), "notification.badge", {"unread": 2}))
        assert receive(browser)["id"] == live
        assert_nothing_more(browser)


def test_a_reconnect_replays_exactly_the_missed_events_in_order_then_live_ones(relay, client, settings):
    account, stranger = sign_up(client), sign_up(client)
    user, org = user_channel(account.user_id), org_channel(account.org_id)
    with relay.connect(account) as browser:
        [seen] = publish(settings, (user, "command.updated", {"n": 0}))
        assert receive(browser)["id"] == seen
    missed = publish(settings, (user, "command.updated", {"n": 1}), (org, "analytics.counters", {"n": 2}),
                     (user_channel(stranger.user_id), "command.updated", {"n": "not yours"}),
                     (user, "notification.created", {"n": 3}))
    del missed[2]
    with relay.connect(account, last_event_id=seen) as browser:
        assert [receive(browser) for _ in missed] == [
            {"id": missed[0], "type": "command.updated", "data": {"n": 1}},
            {"id": missed[1], "type": "analytics.counters", "data": {"n": 2}},
            {"id": missed[2], "type": "notification.created", "data": {"n": 3}}]
        [live] = publish(settings, (org, "analytics.counters", {"n": 4}))
        assert receive(browser)["id"] == live
        assert_nothing_more(browser)
    # Up to date: a reconnect with the newest id replays nothing.
    with relay.connect(account, last_event_id=live) as browser:
        assert_nothing_more(browser)


def test_replay_joins_live_delivery_without_gaps_or_duplicates(relay, client, settings):
    account = sign_up(client)
    channel = user_channel(account.user_id)
    [start] = publish(settings, (channel, "command.updated", {"n": -1}))
    published: list[str] = []
    COUNT = 1000

    async def keep_publishing():
        connection = aioredis.from_url(settings.redis.url, decode_responses=True)
        publisher = RedisPublisher(connection)
        for n in range(COUNT):
            published.append(await publisher.publish(channel, "command.updated", {"n": n}))
        await connection.aclose()

    # The client connects while events keep coming, so some land between its
    # subscription and its replay read: each must arrive exactly once.
    publisher = threading.Thread(target=asyncio.run, args=(keep_publishing(),))
    publisher.start()
    try:
        while len(published) < 20:
            time.sleep(0.001)
        with relay.connect(account, last_event_id=start) as browser:
            received = [receive(browser)["id"] for _ in range(COUNT)]
            assert_nothing_more(browser)
    finally:
        publisher.join()
    assert received == published


def test_another_organizations_events_never_arrive(relay, client, settings):
    account, other = sign_up(client), sign_up(client)
    with relay.connect(account, last_event_id="0") as browser:
        publish(settings, (org_channel(other.org_id), "analytics.counters", {"secret": 1}),
                (user_channel(other.user_id), "notification.created", {"secret": 2}))
        [mine] = publish(settings, (user_channel(account.user_id), "notification.badge", {"unread": 1}))
        assert receive(browser)["id"] == mine
        assert_nothing_more(browser)


def test_two_relays_deliver_the_same_users_events_and_replay_for_each_other(relay, start_relay, client, settings):
    second = start_relay()
    account = sign_up(client)
    with relay.connect(account) as first_browser, second.connect(account) as second_browser:
        [event] = publish(settings, (user_channel(account.user_id), "notification.created", {"title": "both"}))
        assert receive(first_browser)["id"] == receive(second_browser)["id"] == event
    # Seen through the first relay, missed, then replayed by the second: nothing lives in one process.
    [missed] = publish(settings, (org_channel(account.org_id), "command.updated", {"status": "succeeded"}))
    with second.connect(account, last_event_id=event) as browser:
        assert receive(browser)["id"] == missed


def test_a_logout_closes_an_open_connection(relay, client):
    account = sign_up(client)
    with relay.connect(account) as browser:
        assert account.post("/v1/auth/logout").status_code == 204
        with pytest.raises(ConnectionClosed) as closed:
            browser.recv(timeout=5)
    assert closed.value.rcvd.code == 1008
    assert closed.value.rcvd.reason == "session ended; sign in again"


def test_a_client_that_stops_reading_is_dropped_and_others_are_served(relay, client, settings):
    slow, healthy = sign_up(client), sign_up(client)
    # A small receive window and no compression (which would shrink the
    # padding to nothing), so the kernel cannot hide the backlog from the relay.
    sock = socket.socket()
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 64 * 1024)
    sock.connect(("127.0.0.1", relay.port))
    with relay.connect(slow, sock=sock, max_queue=4, compression=None) as slow_browser, \
            relay.connect(healthy) as healthy_browser:
        padding = "x" * 10_000
        publish(settings, *[(user_channel(slow.user_id), "notification.created", {"n": n, "padding": padding})
                            for n in range(1500)])
        [event] = publish(settings, (user_channel(healthy.user_id), "notification.badge", {"unread": 1}))
        assert receive(healthy_browser)["id"] == event

        deadline, received = time.monotonic() + 15, 0
        with pytest.raises(ConnectionClosed) as closed:
            while time.monotonic() < deadline:
                slow_browser.recv(timeout=deadline - time.monotonic())
                received += 1
        assert closed.value.rcvd is not None, closed.value
        assert closed.value.rcvd.code == 1008
        assert closed.value.rcvd.reason == "client too slow; reconnect with last_event_id"
        assert received < 1500  # dropped, not buffered until it caught up

        [after] = publish(settings, (user_channel(healthy.user_id), "notification.badge", {"unread": 2}))
        assert receive(healthy_browser)["id"] == after
    with relay.connect(slow) as reconnected:  # the relay still takes new clients
        [fresh] = publish(settings, (user_channel(slow.user_id), "notification.badge", {"unread": 0}))
        assert receive(reconnected)["id"] == fresh


def test_one_pubsub_connection_per_relay_and_losing_it_makes_clients_replay(start_relay, client, settings):
    own = start_relay()
    account, colleague = sign_up(client), sign_up(client)
    with own.connect(account) as browser, own.connect(colleague) as other_browser:
        admin = redis.Redis.from_url(settings.redis.url, decode_responses=True)
        try:
            mine = [c for c in admin.client_list(_type="pubsub") if c["name"] == f"objecta-relay-{own.process.pid}"]
            assert len(mine) == 1, "one pub/sub connection per relay process, not one per client"
            admin.client_kill_filter(_id=mine[0]["id"])
        finally:
            admin.close()
        # Events published while the relay was reconnecting would be lost to it:
        # it drops its clients so that they come back with last_event_id.
        for listening in (browser, other_browser):
            with pytest.raises(ConnectionClosed) as closed:
                listening.recv(timeout=5)
            assert closed.value.rcvd.code == 1012
    [event] = publish(settings, (user_channel(account.user_id), "notification.created", {}))
    with own.connect(account, last_event_id="0") as browser:
        assert receive(browser)["id"] == event


def test_health_check_and_a_clean_stop_on_sigterm(start_relay, client):
    own = start_relay()
    with urllib.request.urlopen(f"http://127.0.0.1:{own.port}/healthz", timeout=5) as response:
        assert json.loads(response.read()) == {"status": "ok"}
    account = sign_up(client)
    browser = own.connect(account)
    assert own.stop() == 0
    with pytest.raises(ConnectionClosed) as closed:
        browser.recv(timeout=5)
    assert closed.value.rcvd.code == 1001



def test_a_client_away_longer_than_the_replay_keeps_is_told_to_refetch(relay, client, settings):
    """Past STREAM_LENGTH events a channel drops its oldest: the replay says so first, without an id."""
    from domain.realtime import STREAM_LENGTH

    account = sign_up(client)
    user = user_channel(account.user_id)
    [seen] = publish(settings, (user, "command.updated", {"n": 0}))
    with relay.connect(account, last_event_id=seen) as browser:
        assert_nothing_more(browser)  # nothing dropped yet: no notice
    missed = publish(settings, *[(user, "command.updated", {"n": n}) for n in range(1, STREAM_LENGTH + 301)])
    with relay.connect(account, last_event_id=seen) as browser:
        notice = receive(browser)
        assert (notice["id"], notice["type"], notice["data"]["last_event_id"]) == (
            None, "relay.replay_incomplete", seen)
        replayed = [receive(browser)["id"]]
        while replayed[-1] != missed[-1]:
            replayed.append(receive(browser)["id"])
        # What the stream kept (about STREAM_LENGTH: it trims approximately), in order, the oldest gone.
        assert STREAM_LENGTH <= len(replayed) < len(missed) and replayed == missed[-len(replayed):]
    # Up to date again: no notice.
    with relay.connect(account, last_event_id=missed[-1]) as browser:
        assert_nothing_more(browser)


def test_the_relays_redis_commands_wait_for_a_connection_instead_of_failing(settings):
    # As when thousands of websockets close at once and each gives back its slot (decision 117).
    from edge.relay import REDIS_CONNECTIONS, relay_redis

    async def run() -> None:
        redis = relay_redis(settings)
        try:
            await asyncio.gather(*(redis.zrem("relay-test:no-such-slots", str(n))
                                   for n in range(REDIS_CONNECTIONS * 5)))
        finally:
            await redis.aclose()

    asyncio.run(run())


def test_events_published_together_arrive_in_order_with_consecutive_ids(relay, client, settings):
    """A notification and its badge go out in one script call (`publish_many`): live and on replay, in the
    order given, and no other event can land between them."""
    account = sign_up(client)
    channel = user_channel(account.user_id)
    [start] = publish(settings, (channel, "command.updated", {"n": 0}))

    async def together() -> list[str]:
        connection = aioredis.from_url(settings.redis.url, decode_responses=True)
        try:
            return await RedisPublisher(connection).publish_many(channel, [
                ("notification.created", {"n": 1}), ("notification.badge", {"unread": 1})])
        finally:
            await connection.aclose()

    with relay.connect(account) as browser:
        ids = asyncio.run(together())
        assert int(ids[1]) == int(ids[0]) + 1
        assert [receive(browser) for _ in ids] == [
            {"id": ids[0], "type": "notification.created", "data": {"n": 1}},
            {"id": ids[1], "type": "notification.badge", "data": {"unread": 1}}]
    with relay.connect(account, last_event_id=start) as browser:
        assert [receive(browser)["id"] for _ in ids] == ids
        assert_nothing_more(browser)
