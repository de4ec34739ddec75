"""A small TCP proxy that holds every chunk of traffic for a while before passing it on.

Put it in front of the Firestore emulator (FIRESTORE_EMULATOR_HOST=proxy.host_port) to make
Firestore slow rather than down: connections succeed, answers come late. Bounded: at most
`max_connections` proxied connections (more are closed at once), two daemon threads each,
and `close()` ends them all.
"""

from __future__ import annotations

import socket
import threading
import time


class DelayProxy:
    def __init__(self, upstream: str, delay_s: float, max_connections: int = 16) -> None:
        host, port = upstream.rsplit(":", 1)
        self.upstream = (host, int(port))
        self.delay_s = delay_s
        self._slots = threading.BoundedSemaphore(max_connections)
        self._lock = threading.Lock()
        self._sockets: set[socket.socket] = set()
        self._closed = False
        self.connections = 0
        self._listener = socket.create_server(("127.0.0.1", 0))
        self.host_port = f"127.0.0.1:{self._listener.getsockname()[1]}"
        threading.Thread(target=self._accept, name="delay-proxy-accept", daemon=True).start()

    def _track(self, *socks: socket.socket) -> bool:
        with self._lock:
            if self._closed:
                return False
            self._sockets.update(socks)
            return True

    def _accept(self) -> None:
        while True:
            try:
                client, _ = self._listener.accept()
            except OSError:
                return
            if not self._slots.acquire(blocking=False):
                client.close()
                continue
            try:
                upstream = socket.create_connection(self.upstream, timeout=5)
                upstream.settimeout(None)
            except OSError:
                client.close()
                self._slots.release()
                continue
            if not self._track(client, upstream):
                client.close()
                upstream.close()
                self._slots.release()
                return
            self.connections += 1
            done = threading.Barrier(2, action=self._slots.release)
            for src, dst in ((client, upstream), (upstream, client)):
                threading.Thread(target=self._pipe, args=(src, dst, done), name="delay-proxy-pipe", daemon=True).start()

    def _pipe(self, src: socket.socket, dst: socket.socket, done: threading.Barrier) -> None:
        try:
            while True:
                chunk = src.recv(65536)
                if not chunk:
                    break
                time.sleep(self.delay_s)
                dst.sendall(chunk)
        except OSError:
            pass
        finally:
            for sock in (src, dst):
                try:
                    sock.shutdown(socket.SHUT_RDWR)
                except OSError:
                    pass
            try:
                done.wait(timeout=10)
            except threading.BrokenBarrierError:
                pass
            src.close()

    def close(self) -> None:
        with self._lock:
            self._closed = True
            sockets, self._sockets = list(self._sockets), set()
        self._listener.close()
        for sock in sockets:
            try:
                sock.shutdown(socket.SHUT_RDWR)
            except OSError:
                pass
            sock.close()

    def __enter__(self) -> DelayProxy:
        return self

    def __exit__(self, *_exc: object) -> None:
        self.close()
