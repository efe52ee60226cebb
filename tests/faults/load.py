"""Load on the edge while a fault is injected: writers and readers in threads, every answer recorded.

An answer that never came (the client's timeout, a reset connection) is recorded with status None: that
is the hang or crash the suite exists to catch, so a test can assert there were none.
"""

from __future__ import annotations

import itertools
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass

import httpx
from sqlalchemy import create_engine, text

from domain.db import sqlalchemy_url

Write = Callable[[httpx.Client, int], tuple[str, httpx.Response]]


@dataclass(frozen=True)
class Answer:
    kind: str  # "write" or "read"
    what: str  # e.g. "deploy", "invite", "get command"
    started: float  # time.monotonic() when sent
    seconds: float
    status: int | None  # None: no answer at all
    body: dict | None
    error: str | None = None  # why there was no answer
    retry_after: str | None = None  # the Retry-After header, if any

    @property
    def command_id(self) -> str | None:
        return (self.body or {}).get("command_id") if self.status == 202 else None


class Load:
    """`writers` threads call `write(client, n)`; `readers` threads GET `read_paths()` in turn; until `stop()`
    (or `limit` writes). Each thread has its own connection, as separate browsers would."""

    def __init__(self, base_url: str, headers: dict, write: Write, *, writers: int = 3, readers: int = 1,
                 read_paths: Callable[[], list[str]] = lambda: ["/v1/me"], limit: int | None = None,
                 timeout: float = 30, pause: float = 0.0):
        self.answers: list[Answer] = []
        self._base, self._headers, self._timeout, self._pause = base_url, headers, timeout, pause
        self._write, self._read_paths, self._limit = write, read_paths, limit
        self._numbers = itertools.count()
        self._lock = threading.Lock()
        self._stopping = threading.Event()
        self._threads = [threading.Thread(target=self._writer, daemon=True) for _ in range(writers)]
        self._threads += [threading.Thread(target=self._reader, daemon=True, name="reader") for _ in range(readers)]

    def start(self) -> "Load":
        for thread in self._threads:
            thread.start()
        return self

    def stop(self) -> list[Answer]:
        self._stopping.set()
        for thread in self._threads:
            thread.join(self._timeout + 5)
        return self.answers

    def wait(self, timeout: float) -> list[Answer]:
        """Until the writers made `limit` writes (then stops the readers too)."""
        deadline = time.monotonic() + timeout
        for thread in self._threads:
            if thread.name != "reader":
                thread.join(max(0.0, deadline - time.monotonic()))
        return self.stop()

    def writes(self) -> list[Answer]:
        with self._lock:
            return [a for a in self.answers if a.kind == "write"]

    def _client(self) -> httpx.Client:
        return httpx.Client(base_url=self._base, headers=self._headers, timeout=self._timeout)

    def _record(self, answer: Answer) -> None:
        with self._lock:
            self.answers.append(answer)

    def _writer(self) -> None:
        with self._client() as client:
            while not self._stopping.is_set():
                number = next(self._numbers)
                if self._limit is not None and number >= self._limit:
                    return
                self._call(client, "write", lambda: self._write(client, number))
                time.sleep(self._pause)

    def _reader(self) -> None:
        with self._client() as client:
            for turn in itertools.count():
                if self._stopping.is_set():
                    return
                paths = self._read_paths()
                path = paths[turn % len(paths)]
                self._call(client, "read", lambda: ("get " + path.split("/")[2], client.get(path)))
                time.sleep(max(self._pause, 0.05))

    def _call(self, client: httpx.Client, kind: str, call) -> None:
        started = time.monotonic()
        try:
            what, response = call()
        except httpx.HTTPError as error:
            self._record(Answer(kind, kind, started, time.monotonic() - started, None, None,
                                f"{type(error).__name__}: {error}"))
            return
        try:
            body = response.json()
        except ValueError:
            body = {"raw": response.text[:200]}
        self._record(Answer(kind, what, started, time.monotonic() - started, response.status_code, body,
                            retry_after=response.headers.get("retry-after")))


def command_statuses(database_url: str, ids: list[str]) -> dict[str, dict]:
    """Each command's status, error and attempts, read with the owner's connection (no tenant needed)."""
    engine = create_engine(sqlalchemy_url(database_url))
    try:
        with engine.connect() as connection:
            rows = connection.execute(text("select id::text, status, error, attempts from commands "
                                           "where id = any(cast(:ids as uuid[]))"), {"ids": ids}).mappings()
            return {row["id"]: dict(row) for row in rows}
    finally:
        engine.dispose()


def wait_until_finished(database_url: str, ids: list[str], timeout: float, nudge: Callable[[], None] | None = None,
                        every: float = 2.0) -> dict[str, dict]:
    """Poll until every command is succeeded or failed (calling `nudge`, e.g. a sweep, every `every` s)."""
    deadline = time.monotonic() + timeout
    next_nudge = time.monotonic()
    while True:
        statuses = command_statuses(database_url, ids)
        unfinished = [i for i in ids if statuses.get(i, {}).get("status") not in ("succeeded", "failed")]
        if not unfinished or time.monotonic() > deadline:
            return statuses
        if nudge and time.monotonic() >= next_nudge:
            nudge()
            next_nudge = time.monotonic() + every
        time.sleep(0.25)
