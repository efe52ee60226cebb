"""The websocket relay: pushes what workers publish to the browsers listening.

`python -m edge.relay [--host H] [--port N]`; several run behind a load
balancer. A client connects to `ws://HOST:PORT/?token=ACCESS_TOKEN[&last_event_id=ID]`
and receives its `user:{id}` and `org:{id}` events as JSON `{id, type, data}`.

Correctness lives in Redis, not here: `domain.realtime` appends each event to
its channel's stream (replay) and broadcasts it on the channel's topic (live),
with ids from one counter. The relay subscribes first, then replays the streams
after `last_event_id`, then forwards live events it has not sent yet. So any
relay can serve any reconnect, and a client dropped here (too slow, session
ended, Redis lost) loses nothing by reconnecting with its last id, as long as
its channels kept what it missed (`realtime.STREAM_LENGTH` events each). When
they did not, the replay starts with a notice without an id,
`{"id": null, "type": "relay.replay_incomplete", ...}`: the client refetches
what it shows, then takes the rest of the replay and the live events.
"""

from __future__ import annotations

import argparse
import asyncio
import gc
import json
import logging
import os
import random
import signal
import sys
from collections import deque
from contextlib import asynccontextmanager
from http import HTTPStatus
from typing import Any
from urllib.parse import parse_qs, urlsplit

import redis.asyncio as aioredis
from websockets.asyncio.server import ServerConnection, serve
from websockets.datastructures import Headers
from websockets.exceptions import ConnectionClosed
from websockets.frames import CloseCode
from websockets.http11 import Request, Response

from domain import realtime
from domain.accounts.tokens import Principal
from domain.errors import DomainError, error_body
from domain.ratelimit import ConnectionSlots
from edge import relay_limits
from objecta import heartbeat, observability, wiring
from objecta.metrics import exposition, m
from objecta.settings import Settings, SettingsError, load

log = logging.getLogger("edge.relay")

SLOW_CLIENT = "client too slow; reconnect with last_event_id"
REDIS_LOST = "relay lost its Redis connection; reconnect with last_event_id"
SESSION_ENDED = "session ended; sign in again"
# Published on an organization's channel by the admin realm (domain/admin/customers.py): its clients get the
# event, then are closed at once instead of at the next minute's recheck.
SUSPENDED = '"type":"organization.suspended"'
SUSPENDED_REASON = "organization suspended"
# Past the per-client queue only this (and the kernel's socket buffers) waits for a client.
WRITE_LIMIT = 32 * 1024
MAX_CLIENT_MESSAGE = 4096  # clients have nothing to say; a big frame is abuse
SUBSCRIBE_TIMEOUT = 10.0
REDIS_CONNECTIONS = 100  # redis-py's default cap, kept; what changes is waiting for one (relay_redis)
REDIS_WAIT = 20.0  # seconds a command waits for a free connection before it fails as before
GC_THRESHOLDS = (100_000, 50, 10)  # CPython's are (700, 10, 10): see collect_garbage_rarely


def json_response(status: int, payload: Any) -> Response:
    """A plain HTTP answer instead of a websocket: a refusal, or the health check."""
    body = json.dumps(payload).encode()
    headers = Headers([("Content-Type", "application/json"), ("Content-Length", str(len(body))),
                       ("Connection", "close")])
    if status == HTTPStatus.UNAUTHORIZED:
        headers["WWW-Authenticate"] = "Bearer"
    return Response(status, HTTPStatus(status).phrase, headers, body)


def _close_name(code: int) -> str:
    try:
        return CloseCode(code).name.lower()
    except ValueError:
        return "other"


def refusal(status: int, code: str, message: str, details: Any = None) -> Response:
    """A refused handshake, in the HTTP contract's error format."""
    return json_response(status, error_body(code, message, details))


def to_message(event_id: int, event_json: str) -> str | None:
    """The websocket message for a published event; None if the event is unreadable."""
    try:
        event = json.loads(event_json)
        return json.dumps({"id": str(event_id), "type": event.get("type"), "data": event.get("data")},
                          separators=(",", ":"))
    except (TypeError, ValueError, AttributeError):
        log.warning("skipping unreadable event %s", event_id)
        return None


REPLAY_INCOMPLETE = "relay.replay_incomplete"


async def trimmed_after(redis: aioredis.Redis, channels: tuple[str, ...], after: int) -> bool:
    """Whether any of `channels` may have dropped an event newer than `after` from its stream.

    A stream that has trimmed (it holds fewer entries than were added) and whose oldest kept entry is
    newer than `after` + 1 may have dropped some in between. Ids are global, so the gap may hold only
    other channels' events: then this says yes needlessly and the client refetches once; it never says
    no when something was dropped.
    """
    for channel in channels:
        try:
            info = await redis.xinfo_stream(realtime.stream_key(channel))
        except aioredis.ResponseError:  # no such stream: nothing was ever published, nothing dropped
            continue
        first = info.get("first-entry")
        if not first:
            continue
        added = info.get("entries-added")  # Redis/Valkey 7+; before that, a full stream may have trimmed
        trimmed = added > info["length"] if added is not None else info["length"] >= realtime.STREAM_LENGTH
        if trimmed and int(str(first[0]).partition("-")[0]) > after + 1:
            return True
    return False


def incomplete_notice(after: int) -> str:
    return json.dumps({"id": None, "type": REPLAY_INCOMPLETE, "data": {
        "last_event_id": str(after),
        "message": "some events after last_event_id are no longer kept: refetch what you show"}},
        separators=(",", ":"))


async def replay(redis: aioredis.Redis, channels: tuple[str, ...], after: int) -> list[tuple[int, str]]:
    """Every retained event of `channels` with an id above `after`, oldest first."""
    ranges = await asyncio.gather(*(redis.xrange(realtime.stream_key(channel), min=f"({after}-0", max="+")
                                    for channel in channels))
    events = []
    for entries in ranges:
        for entry_id, fields in entries:
            event_id = int(entry_id.partition("-")[0])  # ids are written as "<n>-0"
            if message := to_message(event_id, fields.get("event")):
                events.append((event_id, message))
    # One counter numbers every channel, so ids order the user's and the org's events together.
    return sorted(events, key=lambda event: event[0])


async def close_within(connection: ServerConnection, code: int, reason: str, timeout: float) -> None:
    """Close a websocket, cutting the TCP connection if the close frame is not taken in time.

    websockets first waits for the socket to drain, which a client that reads
    nothing never lets happen: without a deadline it would wait forever.
    """
    try:
        async with asyncio.timeout(timeout):
            await connection.close(code, reason)
    except TimeoutError:
        connection.transport.abort()


class Client:
    """One open websocket: who it is, and the bounded queue the hub fills for it.

    A full queue means the client reads slower than events arrive: it is
    dropped (and replays on reconnect) rather than buffered without bound.
    """

    def __init__(self, connection: ServerConnection, principal: Principal, last_event_id: int | None,
                 queue_size: int, close_timeout: float):
        self.connection, self.principal, self.last_event_id = connection, principal, last_event_id
        self.channels = (realtime.user_channel(principal.user_id), realtime.org_channel(principal.org_id))
        self._queue: deque[tuple[int, str]] = deque()
        self._queue_size, self._close_timeout = queue_size, close_timeout
        self._ready = asyncio.Event()
        self._closing: asyncio.Task | None = None
        self.suspended = False
        self.slot = ""  # its lease among the session's open websockets (edge/relay_limits.py)

    def deliver(self, event_id: int, message: str) -> None:
        """Queue a live event; drop the client if its queue is full."""
        if len(self._queue) >= self._queue_size:
            self.drop(CloseCode.POLICY_VIOLATION, SLOW_CLIENT)
        elif self._closing is None:
            self._queue.append((event_id, message))
            self._ready.set()

    def suspend(self) -> None:
        """Close once the queued events (the suspension notice last) are sent: `_forward` sees the flag."""
        self.suspended = True
        self._ready.set()

    def drop(self, code: int, reason: str) -> None:
        """Close this client's websocket (once), in the background."""
        if self._closing is None:
            log.info("dropping a client of user %s: %s", self.principal.user_id, reason)
            m().relay_dropped.labels(_close_name(code)).inc()
            m().relay_messages_dropped.inc(len(self._queue))  # the client replays them when it reconnects
            self._queue.clear()
            self._closing = asyncio.create_task(close_within(self.connection, code, reason, self._close_timeout))

    async def next_event(self, timeout: float) -> tuple[int, str] | None:
        """The oldest queued event, or None after `timeout` seconds without one."""
        if not self._queue:
            if self.suspended:
                return None
            self._ready.clear()
            try:
                async with asyncio.timeout(max(timeout, 0)):
                    await self._ready.wait()
            except TimeoutError:
                return None
        return self._queue.popleft() if self._queue else None


class Hub:
    """One Redis pub/sub connection shared by every client of this process.

    A topic is subscribed on its first client and unsubscribed after its last.
    Subscribing waits for Redis to confirm, so a replay read afterwards cannot
    miss an event published in between.
    """

    def __init__(self, redis: aioredis.Redis):
        self._pubsub = redis.pubsub()
        self._clients: dict[str, set[Client]] = {}
        # Redis confirms SUBSCRIBEs in the order sent: one future per SUBSCRIBE, per topic.
        self._confirmations: dict[str, deque[asyncio.Future[bool]]] = {}
        self._lock = asyncio.Lock()  # (un)subscribe decisions go out in the order they are taken
        self._reader: asyncio.Task | None = None

    async def start(self) -> None:
        await self._pubsub.connect()
        # redis-py reconnects and resubscribes on its own, but what was published
        # meanwhile is gone: after any later connect every client must replay.
        self._pubsub.connection.register_connect_callback(self._reconnected)
        self._reader = asyncio.create_task(self._read())

    async def close(self) -> None:
        if self._reader is not None:
            self._reader.cancel()
            await asyncio.gather(self._reader, return_exceptions=True)
        await self._pubsub.aclose()

    @asynccontextmanager
    async def listening(self, client: Client):
        """Deliver the client's channels to it for the duration of the block."""
        topics = [realtime.topic(channel) for channel in client.channels]
        try:
            for topic in topics:
                await self._subscribe(topic, client)
            yield
        finally:
            for topic in topics:
                await self._unsubscribe(topic, client)

    async def _subscribe(self, topic: str, client: Client) -> None:
        async with self._lock:
            clients = self._clients.setdefault(topic, set())
            clients.add(client)
            pending = self._confirmations.setdefault(topic, deque())
            if len(clients) == 1:
                pending.append(asyncio.get_running_loop().create_future())
                await self._pubsub.subscribe(topic)
            # An earlier client's SUBSCRIBE may be unconfirmed yet: wait for it too.
            confirmation = pending[-1] if pending else None
        if confirmation is not None:
            async with asyncio.timeout(SUBSCRIBE_TIMEOUT):
                if not await asyncio.shield(confirmation):
                    raise ConnectionError("lost the Redis connection while subscribing")

    async def _unsubscribe(self, topic: str, client: Client) -> None:
        async with self._lock:
            clients = self._clients.get(topic, set())
            clients.discard(client)
            if clients or topic not in self._clients:
                return
            del self._clients[topic]
            if not self._confirmations.get(topic):
                self._confirmations.pop(topic, None)  # one entry per topic ever seen would grow forever
            try:
                await self._pubsub.unsubscribe(topic)
            except Exception:  # a leftover subscription only costs ignored messages
                log.warning("could not unsubscribe %s", topic, exc_info=True)

    async def _read(self) -> None:
        while True:
            try:
                message = await self._pubsub.get_message(timeout=None)
            except Exception:
                log.warning("Redis pub/sub read failed; clients will replay", exc_info=True)
                self._lost()
                await asyncio.sleep(1)
                continue
            if message is not None:
                self._dispatch(message)

    def _dispatch(self, message: dict) -> None:
        topic = message["channel"]
        if message["type"] == "subscribe" and self._confirmations.get(topic):
            self._confirmations[topic].popleft().set_result(True)
        elif message["type"] == "message" and topic in self._clients:
            raw_id, _, event_json = message["data"].partition(" ")  # "<id> <event JSON>"
            if not raw_id.isdecimal():
                log.warning("skipping a message without an id on %s", topic)
            elif text := to_message(int(raw_id), event_json):
                suspended = SUSPENDED in text  # to_message writes compact JSON: the type reads exactly so
                for client in list(self._clients[topic]):
                    client.deliver(int(raw_id), text)
                    if suspended:
                        client.suspend()

    async def _reconnected(self, connection) -> None:
        log.warning("Redis pub/sub reconnected; dropping clients so they replay")
        self._lost()
        # redis-py has just resubscribed these; new clients wait for that as for their own SUBSCRIBE.
        for topic in self._pubsub.channels:
            self._confirmations.setdefault(topic, deque()).append(asyncio.get_running_loop().create_future())

    def _lost(self) -> None:
        for pending in self._confirmations.values():
            for confirmation in pending:
                if not confirmation.done():
                    confirmation.set_result(False)
            pending.clear()
        for clients in self._clients.values():
            for client in clients:
                client.drop(CloseCode.SERVICE_RESTART, REDIS_LOST)


def relay_redis(settings: Settings) -> aioredis.Redis:
    """The relay's Redis client: past its connections, a command waits for one instead of failing.

    redis-py refuses a command beyond `max_connections` (100) at once. Ten thousand websockets closing
    together (a load balancer restarting) each give back their slot: past the hundredth, the slots stayed
    taken until their lease ran out and their people were refused for minutes (decision 117).
    """
    return aioredis.Redis.from_pool(aioredis.BlockingConnectionPool.from_url(
        settings.redis.url, max_connections=REDIS_CONNECTIONS, timeout=REDIS_WAIT, decode_responses=True,
        client_name=f"objecta-relay-{os.getpid()}"))


class Relay:
    """The websocket server: authenticates each handshake, then forwards its client's channels."""

    def __init__(self, settings: Settings, *, host: str, port: int, ping_interval: float = 20,
                 ping_timeout: float = 20, queue_size: int = 256, recheck_interval: float = 60,
                 close_timeout: float = 10):
        if not (settings.redis.url and settings.database.app_url):
            raise SettingsError(["the relay needs REDIS_URL and DATABASE_URL (objecta up provides them)"])
        self.settings, self.host, self.port = settings, host, port
        self.ping_interval, self.ping_timeout = ping_interval, ping_timeout
        self.queue_size, self.recheck_interval, self.close_timeout = queue_size, recheck_interval, close_timeout
        self.accounts = wiring.accounts(settings)

    async def run(self, stop: asyncio.Event) -> None:
        """Serve until `stop` is set, then close every client, Redis and the database pool."""
        self.db = wiring.database(self.settings, jobs=None)  # the relay reads; it never enqueues
        self.redis = relay_redis(self.settings)
        self.hub = Hub(self.redis)
        m()  # declared now: on the first connection it would hold the loop before that client subscribes
        # A slot outlives its connection by at most this when a relay dies without giving it back.
        self.slots = ConnectionSlots(self.redis, lease=max(5, int(self.recheck_interval * 3)),
                                     namespace=self.settings.broker.namespace)
        try:
            await self.hub.start()
            # No permessage-deflate (decision 115): its zlib contexts cost ~45 KiB per open websocket, most of
            # what a connection costs, to shrink events of a few hundred bytes.
            async with serve(self._serve_client, self.host, self.port, process_request=self._handshake,
                             ping_interval=self.ping_interval, ping_timeout=self.ping_timeout,
                             close_timeout=self.close_timeout, write_limit=WRITE_LIMIT,
                             max_size=MAX_CLIENT_MESSAGE, compression=None) as server:
                log.info("relay listening on ws://%s:%s", self.host, self.port)
                # Its open websockets, for `objecta status` and the admin health route (objecta/heartbeat.py).
                beats = asyncio.create_task(heartbeat.beat_relay(self.redis, self.settings.broker.namespace,
                                                                 lambda: len(server.connections)))
                await stop.wait()
                beats.cancel()
                log.info("relay stopping")
                # Deadlines first: websockets' own shutdown would wait on clients that read nothing.
                await asyncio.gather(*(close_within(connection, CloseCode.GOING_AWAY, "relay shutting down; "
                                                    "reconnect with last_event_id", self.close_timeout)
                                       for connection in server.connections))
        finally:
            await self.hub.close()
            await self.redis.aclose()
            await self.db.dispose()
        log.info("relay stopped")

    async def _authorize(self, principal: Principal) -> None:
        # The token outlives a logout or a removed membership; the database knows.
        async with self.db.transaction(org_id=principal.org_id, user_id=principal.user_id) as session:
            await self.accounts.authorize(session, principal, None)

    async def _handshake(self, connection: ServerConnection, request: Request) -> Response | None:
        """`process_request`: an HTTP answer, or None to open the websocket."""
        url = urlsplit(request.path)
        if url.path == "/healthz":  # for load balancers and `objecta up`
            return json_response(200, {"status": "ok"})
        if url.path == "/metrics":  # Prometheus, on the same port
            body, content_type = exposition()
            return Response(200, "OK", Headers([("Content-Type", content_type), ("Content-Length", str(len(body))),
                                                ("Connection", "close")]), body)
        if url.path != "/":
            return refusal(404, "not_found", "the relay listens on / only")
        query = parse_qs(url.query)
        token = query.get("token", [""])[0]
        if not token:
            return refusal(401, "missing_token", "connect with ?token=ACCESS_TOKEN")
        try:
            principal = self.accounts.issuer.verify_access(token)
            await self._authorize(principal)
        except DomainError as error:
            return refusal(error.status_code, error.code, error.message, error.details)
        except Exception:  # the log and Sentry get the traceback, never the client
            log.exception("could not check a relay login")
            return refusal(503, "unavailable", "the relay cannot check logins right now; retry shortly")
        raw_id = query.get("last_event_id", [None])[0]
        if raw_id is not None and not (raw_id.isascii() and raw_id.isdigit() and len(raw_id) <= 19):
            return refusal(400, "invalid_last_event_id", "last_event_id must be an id the relay sent",
                           {"field": "last_event_id"})
        try:  # per login session: connects per window, websockets open at once (edge/relay_limits.py)
            slot, refused = await relay_limits.admit(self.slots, self.settings, principal)
        except Exception:
            log.exception("could not check a relay login's connections")
            return refusal(503, "unavailable", "the relay cannot check logins right now; retry shortly")
        if refused is not None:
            return refused
        connection.relay_client = Client(connection, principal, None if raw_id is None else int(raw_id),
                                         self.queue_size, self.close_timeout)
        connection.relay_client.slot = slot
        return None

    async def _serve_client(self, connection: ServerConnection) -> None:
        client: Client = connection.relay_client
        m().relay_connections_opened.inc()
        m().relay_connections.inc()
        try:
            await self._serve_listening(client)
        finally:
            m().relay_connections.dec()

    async def _serve_listening(self, client: Client) -> None:
        connection = client.connection
        async with self.hub.listening(client):
            sender = asyncio.create_task(self._forward(client))
            try:
                async for _ in connection:  # clients send nothing; reading notices when they leave
                    pass
            except ConnectionClosed:
                pass
            finally:
                sender.cancel()
                await asyncio.gather(sender, return_exceptions=True)
                await self._release(client)

    async def _forward(self, client: Client) -> None:
        """Replay what the client missed, then send live events: each id once, in order."""
        connection, loop = client.connection, asyncio.get_running_loop()
        last_sent = client.last_event_id or 0
        recheck: asyncio.Task | None = None
        try:
            if client.last_event_id is not None:
                missed = await replay(self.redis, client.channels, client.last_event_id)
                # Asked after reading: an event trimmed before the read is then seen as trimmed here.
                if await trimmed_after(self.redis, client.channels, client.last_event_id):
                    await connection.send(incomplete_notice(client.last_event_id))
                for event_id, message in missed:
                    await connection.send(message)
                    m().relay_sent.labels("replay").inc()
                    last_sent = event_id
            # The first recheck at a random point of the interval: clients that connected together (a relay
            # restarting, a deploy) would otherwise all query the database in the same second, every minute.
            recheck_at = loop.time() + self.recheck_interval * random.uniform(0.5, 1)
            while True:
                event = await client.next_event(timeout=recheck_at - loop.time())
                if loop.time() >= recheck_at:
                    # Beside the delivery, not before it: behind a busy database pool an event would wait
                    # for the check, and every client's check comes due each interval (decision 116).
                    if recheck is None or recheck.done():
                        recheck = asyncio.create_task(self._recheck(client))
                    recheck_at = loop.time() + self.recheck_interval
                # Live events queued while the replay ran may be in it already.
                if event is not None and event[0] > last_sent:
                    await connection.send(event[1])
                    m().relay_sent.labels("live").inc()
                    last_sent = event[0]
                if client.suspended and event is None:
                    client.drop(CloseCode.POLICY_VIOLATION, SUSPENDED_REASON)
                    return
        except ConnectionClosed:
            pass
        except Exception:
            log.exception("forwarding to a client of user %s failed", client.principal.user_id)
            client.drop(CloseCode.INTERNAL_ERROR, "relay error; reconnect with last_event_id")
        finally:
            if recheck is not None:
                recheck.cancel()

    async def _recheck(self, client: Client) -> None:
        """Close the client if its login ended; otherwise renew its slot among the session's websockets."""
        if not await self._still_allowed(client.principal):
            client.drop(CloseCode.POLICY_VIOLATION, SESSION_ENDED)
            return
        await self._renew(client)

    async def _renew(self, client: Client) -> None:
        try:
            await self.slots.renew(relay_limits.subject(client.principal), client.slot)
        except Exception:  # a Redis blip: the next recheck renews it
            log.warning("could not renew a websocket's slot", exc_info=True)

    async def _release(self, client: Client) -> None:
        try:
            await self.slots.release(relay_limits.subject(client.principal), client.slot)
        except Exception:  # its lease runs out instead
            log.warning("could not give back a websocket's slot", exc_info=True)

    async def _still_allowed(self, principal: Principal) -> bool:
        try:
            await self._authorize(principal)
        except DomainError:
            return False
        except Exception:  # a database blip must not disconnect every client; the next check decides
            log.warning("could not recheck a relay login", exc_info=True)
        return True


async def _run_until_signalled(relay: Relay) -> None:
    stop = asyncio.Event()
    for signum in (signal.SIGTERM, signal.SIGINT):
        asyncio.get_running_loop().add_signal_handler(signum, stop.set)
    await relay.run(stop)


def collect_garbage_rarely() -> None:
    """Fewer, not longer, pauses of the cyclic garbage collector (decision 115).

    A full collection walks every tracked object: ~110 per open websocket, over a second at 10,000 sockets
    on this machine, during which nothing is delivered. With the default thresholds the short-lived objects
    of each send survived into the old generation, and fan-outs set off full collections every few
    seconds. A large first threshold lets them die young; what is loaded at start is frozen out of every
    collection (it lives as long as the process).
    """
    gc.freeze()
    gc.set_threshold(*GC_THRESHOLDS)


def main(argv: list[str] | None = None) -> int:
    """`python -m edge.relay`: run one relay process until SIGTERM or SIGINT."""
    parser = argparse.ArgumentParser(prog="python -m edge.relay", description=__doc__.splitlines()[0])
    parser.add_argument("--host", help="interface to bind (default: HOST)")
    parser.add_argument("--port", type=int, help="port to bind (default: RELAY_PORT)")
    parser.add_argument("--ping-interval", type=float, default=20, help="seconds between keepalive pings")
    parser.add_argument("--ping-timeout", type=float, default=20, help="seconds to wait for a pong")
    parser.add_argument("--queue-size", type=int, default=256, help="events queued per client before it is dropped")
    parser.add_argument("--recheck-interval", type=float, default=60,
                        help="seconds between checks that a connected login is still live")
    args = parser.parse_args(argv)
    try:
        settings = load()
        observability.setup(settings, "relay")
        relay = Relay(settings, host=args.host or settings.http.host,
                      port=settings.http.relay_port if args.port is None else args.port,
                      ping_interval=args.ping_interval, ping_timeout=args.ping_timeout,
                      queue_size=args.queue_size, recheck_interval=args.recheck_interval)
    except SettingsError as error:
        print(error, file=sys.stderr)
        return 2
    collect_garbage_rarely()
    try:
        asyncio.run(_run_until_signalled(relay))
    except Exception:  # a busy port, Redis or Postgres unreachable at start
        log.exception("relay stopped on an error")
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
