"""A lean HTTP/1.1 client for the benchmarks' load: keep-alive connections in a bounded pool, nothing else.

httpx was the bottleneck of `bench/notifications.py`: its pool scans every connection on each request
(`is_idle`, `has_expired`, a `getpeername` each), so with the hundred connections a late stack makes it
open, the bench's own process took 70-100 % of a core on a two-core machine and starved the stack it
measured (py-spy, 2026-11-30). This one costs a few tens of microseconds a request: the request is
written in one piece, the answer read by its `content-length` (what uvicorn sends for every JSON answer).

A request waits for a free connection when all are busy, so a stack that falls behind shows as latency,
as it would for browsers. A connection idle for longer than the server's keep-alive (uvicorn: 5 s) is
not reused: the server may be closing it as the request is written.
"""

from __future__ import annotations

import asyncio
import json
import time
from typing import Any

IDLE_REUSE_SECONDS = 2.0


class HTTPError(Exception):
    """The connection failed or the answer was not HTTP."""


class _Connection:
    def __init__(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter):
        self.reader, self.writer, self.used_at = reader, writer, time.monotonic()

    def close(self) -> None:
        self.writer.close()


class Client:
    def __init__(self, host: str, port: int, *, connections: int = 32):
        self.host, self.port = host, port
        self._idle: list[_Connection] = []
        self._slots = asyncio.Semaphore(connections)

    async def post(self, path: str, body: Any, headers: dict[str, str] | None = None) -> tuple[int, Any]:
        """POST `body` as JSON; the status and the decoded JSON answer (None when empty)."""
        return await self.request("POST", path, body, headers)

    async def request(self, method: str, path: str, body: Any = None,
                      headers: dict[str, str] | None = None) -> tuple[int, Any]:
        payload = b"" if body is None else json.dumps(body).encode()
        head = [f"{method} {path} HTTP/1.1", f"host: {self.host}:{self.port}",
                f"content-length: {len(payload)}"]
        if body is not None:
            head.append("content-type: application/json")
        head += [f"{name}: {value}" for name, value in (headers or {}).items()]
        message = ("\r\n".join(head) + "\r\n\r\n").encode() + payload
        async with self._slots:
            connection = await self._connection()
            try:
                status, answer = await self._exchange(connection, message)
            except (OSError, asyncio.IncompleteReadError, ValueError) as error:
                connection.close()
                raise HTTPError(f"{method} {path}: {error!r}") from error
            if connection.used_at != float("-inf"):
                connection.used_at = time.monotonic()
                self._idle.append(connection)
            else:
                connection.close()
        return status, json.loads(answer) if answer else None

    async def _connection(self) -> _Connection:
        now = time.monotonic()
        while self._idle:
            connection = self._idle.pop()
            if now - connection.used_at < IDLE_REUSE_SECONDS:
                return connection
            connection.close()
        try:
            return _Connection(*await asyncio.open_connection(self.host, self.port))
        except OSError as error:
            raise HTTPError(f"connect: {error!r}") from error

    @staticmethod
    async def _exchange(connection: _Connection, message: bytes) -> tuple[int, bytes]:
        connection.writer.write(message)
        head = await connection.reader.readuntil(b"\r\n\r\n")
        lines = head.decode("latin-1").split("\r\n")
        status = int(lines[0].split(" ", 2)[1])
        length = 0
        for line in lines[1:]:
            name, _, value = line.partition(":")
            name = name.strip().lower()
            if name == "content-length":
                length = int(value)
            elif name == "transfer-encoding":
                raise ValueError("chunked answers are not supported here")
            elif name == "connection" and value.strip().lower() == "close":
                connection.used_at = float("-inf")  # not reused
        return status, await connection.reader.readexactly(length) if length else b""

    async def close(self) -> None:
        for connection in self._idle:
            connection.close()
        self._idle.clear()
