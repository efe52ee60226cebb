"""Dead letters: what the workers gave up on, listed, replayed and purged (`objecta dlq`).

Where Dramatiq keeps them (read from its source, dramatiq 2.x):
- Redis broker: `<namespace>:<queue>.XQ`, a sorted set of Redis message ids
  scored by the time they were dead-lettered, and `<namespace>:<queue>.XQ.msgs`,
  a hash of id → encoded message; the broker's maintenance drops them after
  7 days (`dead_message_ttl`).
- RabbitMQ: the durable queue `<queue>.XQ` (the work queue's dead-letter
  route); the time is in the `x-death` header. A queue can only be read by
  taking messages: we `basic_get` them unacknowledged and acknowledge only
  those replayed; closing the channel puts the rest back.

Neither broker keeps why a message was given up on, so `DeadLetterReasons`
(a middleware of every worker) writes the reason to Redis beside it, keyed
by the Dramatiq message id, for as long as the broker keeps the letter.

A replayed command goes through the command pipeline (`commands.requeue_dead`):
back to `queued` with its attempts reset, published to its sender, and sent
again after that commits; the dead letter is removed only afterwards, so a
replay interrupted half way leaves it to be replayed again (the work is
idempotent). Any other message is sent again as it was first sent.
"""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from datetime import datetime, timezone
from typing import Any, Protocol

import dramatiq
import redis
from dramatiq.common import xq_name

from objecta.connections import redis_options
from objecta.settings import Settings

# A reason is kept as long as Dramatiq keeps the letter (its default TTL, 7 days).
REASON_TTL_S = 7 * 24 * 3600
# Options that described the failed deliveries, not the message: a replay starts afresh.
DELIVERY_OPTIONS = ("retries", "traceback", "requeue_timestamp", "redis_message_id", "eta")


def reason_key(namespace: str, message_id: str) -> str:
    return f"{namespace}:deadletters:reason:{message_id}"


@dataclass
class DeadLetter:
    id: str  # the broker's id of the letter: what `objecta dlq replay ID` takes
    queue: str
    message: dramatiq.Message
    dead_at: datetime | None
    noted_reason: str | None = None
    command: dict[str, Any] | None = field(default=None)  # kind, status, attempts, error, when it is a command

    @property
    def reason(self) -> str:
        if self.noted_reason:
            return self.noted_reason
        if self.command and self.command.get("error"):
            return self.command["error"]
        if traceback := self.message.options.get("traceback"):
            return traceback.strip().splitlines()[-1]
        return "unknown (given up on before this version noted reasons)"

    @property
    def attempts(self) -> int:
        if self.command:
            return self.command["attempts"]
        return self.message.options.get("retries", 0) + 1

    def as_dict(self) -> dict[str, Any]:
        return {"id": self.id, "queue": self.queue, "actor": self.message.actor_name,
                "message_id": self.message.message_id,
                "dead_at": self.dead_at.isoformat() if self.dead_at else None, "attempts": self.attempts,
                "reason": self.reason, "command": self.command}


Handle = Callable[[DeadLetter], None]


class DeadLetterStore(Protocol):
    def queues(self) -> list[str]: ...
    def letters(self, queue: str) -> list[DeadLetter]: ...
    def take(self, queue: str, wanted: Callable[[DeadLetter], bool], handle: Handle) -> int:
        """`handle` each wanted letter, then remove it; a letter whose handling raised stays."""
    def purge(self, queue: str) -> int: ...


class RedisDeadLetters:
    def __init__(self, client: redis.Redis, namespace: str, known_queues: list[str]):
        self.client = client
        self.namespace = namespace
        self.known_queues = known_queues

    def _key(self, queue: str) -> str:
        return f"{self.namespace}:{xq_name(queue)}"

    def queues(self) -> list[str]:
        found = {key.decode().removeprefix(f"{self.namespace}:").removesuffix(".XQ")
                 for key in self.client.scan_iter(match=f"{self.namespace}:*.XQ", count=500)}
        return sorted(found | set(self.known_queues))

    def letters(self, queue: str) -> list[DeadLetter]:
        key = self._key(queue)
        entries = self.client.zrange(key, 0, -1, withscores=True)
        if not entries:
            return []
        encoded = self.client.hmget(key + ".msgs", [letter_id for letter_id, _ in entries])
        letters = []
        for (letter_id, score), data in zip(entries, encoded):
            if data is None:  # expired between the two reads
                continue
            when = datetime.fromtimestamp(score / 1000, timezone.utc)
            letters.append(DeadLetter(letter_id.decode(), queue, dramatiq.Message.decode(data), when))
        return letters

    def take(self, queue: str, wanted: Callable[[DeadLetter], bool], handle: Handle) -> int:
        key, done = self._key(queue), 0
        for letter in self.letters(queue):
            if not wanted(letter):
                continue
            handle(letter)
            with self.client.pipeline() as both:
                both.zrem(key, letter.id).hdel(key + ".msgs", letter.id).execute()
            done += 1
        return done

    def purge(self, queue: str) -> int:
        key = self._key(queue)
        with self.client.pipeline() as both:
            count, _ = both.zcard(key).delete(key, key + ".msgs").execute()
        return count


class RabbitDeadLetters:
    """`<queue>.XQ` read with basic_get; what is not acknowledged goes back when the channel closes."""

    def __init__(self, url: str, known_queues: list[str]):
        self.url = url
        self.known_queues = known_queues

    def queues(self) -> list[str]:
        return list(self.known_queues)  # RabbitMQ's management API is not assumed: the queues we declare

    @staticmethod
    def _when(properties) -> datetime | None:
        deaths = (properties.headers or {}).get("x-death") or []
        when = deaths[0].get("time") if deaths else None
        if isinstance(when, datetime):
            return when if when.tzinfo else when.replace(tzinfo=timezone.utc)
        if isinstance(when, (int, float)):
            return datetime.fromtimestamp(when, timezone.utc)
        return None

    def _each(self, queue: str, visit: Callable[[Any, DeadLetter], None]) -> None:
        import pika

        connection = pika.BlockingConnection(pika.URLParameters(self.url))
        try:
            channel = connection.channel()
            try:
                channel.queue_declare(xq_name(queue), passive=True)
            except pika.exceptions.ChannelClosedByBroker:
                return  # never declared: no dead letters
            while True:
                method, properties, body = channel.basic_get(xq_name(queue), auto_ack=False)
                if method is None:
                    break
                message = dramatiq.Message.decode(body)
                visit(lambda tag=method.delivery_tag: channel.basic_ack(tag),
                      DeadLetter(message.message_id, queue, message, self._when(properties)))
            channel.close()  # unacknowledged letters go back to the queue
        finally:
            connection.close()

    def letters(self, queue: str) -> list[DeadLetter]:
        found: list[DeadLetter] = []
        self._each(queue, lambda ack, letter: found.append(letter))
        return found

    def take(self, queue: str, wanted: Callable[[DeadLetter], bool], handle: Handle) -> int:
        done = 0

        def visit(ack, letter: DeadLetter) -> None:
            nonlocal done
            if wanted(letter):
                handle(letter)
                ack()
                done += 1

        self._each(queue, visit)
        return done

    def purge(self, queue: str) -> int:
        import pika

        connection = pika.BlockingConnection(pika.URLParameters(self.url))
        try:
            channel = connection.channel()
            try:
                return channel.queue_purge(xq_name(queue)).method.message_count
            except pika.exceptions.ChannelClosedByBroker:
                return 0
        finally:
            connection.close()


class DeadLetterReasons(dramatiq.Middleware):
    """Notes why a message was given up on, in Redis beside the broker's letter (both brokers)."""

    def __init__(self, redis_url: str | None, namespace: str):
        self.redis_url = redis_url
        self.namespace = namespace
        self._client: redis.Redis | None = None

    def after_nack(self, broker, message) -> None:
        # The consumer has just dead-lettered it (Dramatiq's `after` hooks run in reverse order, so at
        # `after_process_message` the retry middleware has not yet decided); the delivery's exception is kept
        # on the message.
        exception = getattr(message, "_exception", None)
        reason = f"{type(exception).__name__}: {exception}" if exception is not None else "failed"
        try:
            if self._client is None:
                self._client = redis.Redis.from_url(self.redis_url, **redis_options())
            self._client.set(reason_key(self.namespace, message.message_id), reason[:2000], ex=REASON_TTL_S)
        except redis.RedisError:
            pass  # the letter is kept anyway; only its reason is lost


class DeadLetters:
    """What `objecta dlq` does, over the broker's store and, for commands, the command pipeline."""

    def __init__(self, settings: Settings, store: DeadLetterStore, reasons: redis.Redis | None,
                 sender: Any):
        self.settings = settings
        self.store = store
        self.reasons = reasons
        self.sender = sender  # a dramatiq broker: `enqueue(message)`

    def list(self, queue: str | None = None) -> list[DeadLetter]:
        letters = [letter for name in self._queues(queue) for letter in self.store.letters(name)]
        self._describe(letters)
        return sorted(letters, key=lambda letter: letter.dead_at or datetime.min.replace(tzinfo=timezone.utc))

    def replay(self, *, letter_id: str | None = None, queue: str | None = None) -> int:
        """Replay one letter (by id) or every letter of `queue` (every queue when None)."""
        def wanted(letter: DeadLetter) -> bool:
            return letter_id is None or letter.id == letter_id

        return sum(self.store.take(name, wanted, self._replay_one) for name in self._queues(queue))

    def purge(self, queue: str | None = None) -> int:
        return sum(self.store.purge(name) for name in self._queues(queue))

    def _queues(self, queue: str | None) -> list[str]:
        return [queue] if queue else self.store.queues()

    def _replay_one(self, letter: DeadLetter) -> None:
        command_id = _command_id(letter.message)
        if command_id is not None and asyncio.run(self._requeue_command(command_id)):
            return
        options = {k: v for k, v in letter.message.options.items() if k not in DELIVERY_OPTIONS}
        self.sender.enqueue(dramatiq.Message(queue_name=letter.queue, actor_name=letter.message.actor_name,
                                             args=letter.message.args, kwargs=letter.message.kwargs,
                                             options=options))

    async def _requeue_command(self, command_id: uuid.UUID) -> bool:
        """Through the pipeline; False when the message is not a command's (no such command)."""
        from domain.commands import service as commands
        from domain.realtime import RedisPublisher
        from objecta import wiring
        from objecta.broker import BrokerSender

        db = wiring.database(self.settings, jobs=BrokerSender(self.sender))
        redis_client = wiring.redis(self.settings)
        try:
            async with db.transaction(system=True) as session:
                command = await commands.requeue_dead(session, command_id, RedisPublisher(redis_client))
            return command is not None
        finally:
            await redis_client.aclose()
            await db.dispose()

    def _describe(self, letters: list[DeadLetter]) -> None:
        if self.reasons is not None and letters:
            noted = self.reasons.mget([reason_key(self.settings.broker.namespace, letter.message.message_id)
                                       for letter in letters])
            for letter, reason in zip(letters, noted):
                letter.noted_reason = reason.decode() if reason else None
        ids = {command_id: letter for letter in letters if (command_id := _command_id(letter.message))}
        if ids:
            for command_id, described in asyncio.run(self._commands(list(ids))).items():
                ids[command_id].command = described

    async def _commands(self, command_ids: list[uuid.UUID]) -> dict[uuid.UUID, dict[str, Any]]:
        from domain.commands import service as commands
        from objecta import wiring

        db = wiring.database(self.settings, jobs=None)
        try:
            async with db.transaction(system=True) as session:
                found = await commands.by_ids(session, command_ids)
        finally:
            await db.dispose()
        return {c.id: {"id": str(c.id), "kind": c.kind, "status": c.status, "attempts": c.attempts,
                       "error": c.error} for c in found}


def _command_id(message: dramatiq.Message) -> uuid.UUID | None:
    """Command actors take (command id, org id); the commands table says whether it is one."""
    if len(message.args) != 2 or "org_id" not in message.options:
        return None
    try:
        return uuid.UUID(str(message.args[0]))
    except ValueError:
        return None


def open_dead_letters(settings: Settings, known_queues: list[str]) -> DeadLetters:
    """The store of the configured broker (`objecta/broker.py` builds the same one)."""
    from objecta.broker import build_broker
    from objecta.connections import amqp_url

    broker = build_broker(settings)
    reasons = redis.Redis.from_url(settings.redis.url, **redis_options()) if settings.redis.url else None
    if settings.broker.is_rabbitmq:
        store: DeadLetterStore = RabbitDeadLetters(amqp_url(settings.broker.url), known_queues)
    else:
        store = RedisDeadLetters(redis.Redis(connection_pool=broker.client.connection_pool),
                                 settings.broker.namespace, known_queues)
    return DeadLetters(settings, store, reasons, broker)


def each_line(letters: list[DeadLetter]) -> Iterator[str]:
    """`objecta dlq list`: one letter a line, oldest first."""
    yield "id\tqueue\tactor\tdead at (UTC)\tattempts\tcommand\treason"
    for letter in letters:
        command = f"{letter.command['kind']} {letter.command['id']} ({letter.command['status']})" \
            if letter.command else "-"
        when = letter.dead_at.strftime("%Y-%m-%d %H:%M:%S") if letter.dead_at else "?"
        yield "\t".join([letter.id, letter.queue, letter.message.actor_name, when, str(letter.attempts), command,
                         letter.reason.replace("\n", " ")])
