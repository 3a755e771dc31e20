"""A TCP proxy in front of a real server, for the one fault a stopped server cannot make: a statement that
reaches the database and commits, and a reply that never comes back (the network cut in between).

`cut_next_reply()`: the next connection to send anything has its request forwarded and its answer dropped,
then both of its ends closed (with `partition=True`, every connection's answers from then on, until `heal()`).
`cut_next_request()`: its request is dropped instead (it never reaches the server). `down`: new connections
are closed at once, as a host that cannot be reached.
Everything else is passed through unchanged. Threads only; `close()` ends them and every connection.
"""

from __future__ import annotations

import contextlib
import socket
import threading
from collections.abc import Iterator


class CutProxy:
    def __init__(self, port: int) -> None:
        self.target = ("127.0.0.1", port)
        self.listener = socket.create_server(("127.0.0.1", 0))
        self.port = int(self.listener.getsockname()[1])
        self.down = False
        self.replies_cut = 0
        self.requests_cut = 0
        self.partitioned = False
        self._partition = False
        self._armed = ""  # "reply" or "request": what the next connection to send anything loses
        self._lock = threading.Lock()
        self._socks: list[socket.socket] = []
        self._closed = False
        threading.Thread(target=self._accept, daemon=True).start()

    def uri(self, db_uri: str) -> str:
        """`db_uri` (postgresql://user@127.0.0.1:PORT/db...) through this proxy."""
        return db_uri.replace(f":{self.target[1]}/", f":{self.port}/", 1)

    def cut_next_reply(self, *, partition: bool = False) -> None:
        """`partition`: as that request leaves, the network is cut for everyone: nothing more comes back on any
        connection (a follower cannot read what it committed either) and new ones are refused, until `heal()`."""
        with self._lock:
            self._armed = "reply"
            self._partition = partition

    def heal(self) -> None:
        self.partitioned = False
        self.down = False

    def cut_next_request(self) -> None:
        with self._lock:
            self._armed = "request"

    def _accept(self) -> None:
        while not self._closed:
            try:
                client, _ = self.listener.accept()
            except OSError:
                return
            if self.down:
                client.close()
                continue
            try:
                server = socket.create_connection(self.target)
            except OSError:
                client.close()
                continue
            with self._lock:
                self._socks += [client, server]
            doomed = threading.Event()  # this connection's request went through while armed: drop its answer
            threading.Thread(target=self._pipe, args=(client, server, doomed, True), daemon=True).start()
            threading.Thread(target=self._pipe, args=(server, client, doomed, False), daemon=True).start()

    def _pipe(self, src: socket.socket, dst: socket.socket, doomed: threading.Event, upstream: bool) -> None:
        with contextlib.suppress(OSError):
            while data := src.recv(65536):
                if upstream:
                    with self._lock:
                        armed, self._armed = self._armed, ""
                    if armed == "request":  # lost on the way: the server never sees it
                        self.requests_cut += 1
                        break
                    if armed == "reply":
                        doomed.set()
                        if self._partition:
                            self.partitioned = self.down = True
                elif doomed.is_set() or self.partitioned:  # the answer to a request that got through is lost
                    self.replies_cut += 1
                    break
                dst.sendall(data)
        for s in (src, dst):
            with contextlib.suppress(OSError):
                s.shutdown(socket.SHUT_RDWR)
            s.close()

    def close(self) -> None:
        self._closed = True
        self.listener.close()
        with self._lock:
            for s in self._socks:
                with contextlib.suppress(OSError):
                    s.shutdown(socket.SHUT_RDWR)
                s.close()


@contextlib.contextmanager
def cut_proxy(port: int) -> Iterator[CutProxy]:
    proxy = CutProxy(port)
    try:
        yield proxy
    finally:
        proxy.close()
