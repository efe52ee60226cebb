"""A TCP proxy a test can cut: the broker or the database "goes away" without touching the real server.

Every process of the test (the edge, the workers) connects to `proxy.port` instead of the server's; the
proxy forwards bytes both ways. `cut("refused")` is a server that died: every open connection is reset
and new ones are refused. `cut("silent")` is a network partition: open connections stay open but nothing
crosses them any more, and new connections are accepted and never answered, so only a client's own
timeouts get it out. `restore()` closes whatever the outage left half-open and forwards again.
It speaks no protocol, so the same proxy stands in front of Redis, RabbitMQ or Postgres.
"""

from __future__ import annotations

import socket
import struct
import threading

UP, REFUSED, SILENT = "up", "refused", "silent"


def proxied_url(url: str, upstream: tuple[str, int], port: int) -> str:
    """`url` (redis://, amqp://, postgresql://...) with the upstream's host:port replaced by a proxy's `port`."""
    host, upstream_port = upstream
    for original in (f"{host}:{upstream_port}", f"localhost:{upstream_port}"):
        if original in url:
            return url.replace(original, f"127.0.0.1:{port}", 1)
    raise ValueError(f"{url!r} does not name {host}:{upstream_port}")


class TcpProxy:
    def __init__(self, upstream_host: str, upstream_port: int):
        self.upstream = (upstream_host, upstream_port)
        self.mode = UP
        self.connections = 0  # accepted since start, for the figures
        self._lock = threading.Lock()
        self._open: list[socket.socket] = []  # both ends of every forwarded pair, and the held ones
        self._listener = self._listen(0)
        self.port = self._listener.getsockname()[1]
        self._serving = True
        self._thread = self._accepting(self._listener)

    def url_for(self, url: str) -> str:
        return proxied_url(url, self.upstream, self.port)

    def cut(self, mode: str) -> None:
        assert mode in (REFUSED, SILENT)
        with self._lock:
            self.mode = mode
            if mode == REFUSED:
                self._listener.close()  # the port answers RST to a SYN, as a dead server's does
                self._reset_all()

    def restore(self) -> None:
        with self._lock:
            self._reset_all()  # a partition that heals leaves garbage in half-forwarded streams
            if self.mode == REFUSED:
                self._listener = self._listen(self.port)
                self._thread = self._accepting(self._listener)
            self.mode = UP

    def close(self) -> None:
        with self._lock:
            self._serving = False
            self._listener.close()
            self._reset_all()

    # -- plumbing ------------------------------------------------------------------------

    @staticmethod
    def _listen(port: int) -> socket.socket:
        listener = socket.socket()
        listener.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        listener.bind(("127.0.0.1", port))
        listener.listen(128)
        return listener

    def _accepting(self, listener: socket.socket) -> threading.Thread:
        thread = threading.Thread(target=self._accept, args=(listener,), daemon=True, name="tcp-proxy")
        thread.start()
        return thread

    def _accept(self, listener: socket.socket) -> None:
        while self._serving:
            try:
                client, _ = listener.accept()
            except OSError:
                return  # closed by cut("refused") or close()
            with self._lock:
                self.connections += 1
                self._open.append(client)
                if self.mode == SILENT:
                    continue  # held open, never answered
            try:
                server = socket.create_connection(self.upstream, timeout=5)
                server.settimeout(None)
            except OSError:
                self._reset(client)
                continue
            with self._lock:
                self._open.append(server)
            for source, target in ((client, server), (server, client)):
                threading.Thread(target=self._pump, args=(source, target), daemon=True).start()

    def _pump(self, source: socket.socket, target: socket.socket) -> None:
        try:
            while data := source.recv(65536):
                if self.mode == SILENT:
                    continue  # the partition swallows it
                target.sendall(data)
        except OSError:
            pass
        self._reset(source)
        self._reset(target)

    def _reset_all(self) -> None:
        for sock in self._open:
            self._reset(sock)
        self._open.clear()

    @staticmethod
    def _reset(sock: socket.socket) -> None:
        try:
            # Linger 0: close with RST, as a dying host's kernel does, rather than a polite FIN.
            sock.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
            sock.shutdown(socket.SHUT_RDWR)
        except OSError:
            pass
        sock.close()
