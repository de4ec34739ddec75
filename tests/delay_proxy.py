"""A small TCP proxy that holds every chunk of traffic for a while before passing it on.

Put it in front of the Firestore emulator (FIRESTORE_EMULATOR_HOST=proxy.host_port) to make
Firestore slow rather than down: connections succeed, answers come late. With no delay it is a
wire-level RPC counter: `rpcs` counts the HTTP/2 HEADERS frames clients send, one per gRPC call
(a gRPC client sends no trailers), whatever library made the call. Bounded: at most
`max_connections` proxied connections (more are closed at once), two daemon threads each,
and `close()` ends them all.
"""

from __future__ import annotations

import socket
import struct
import threading
import time

_HTTP2_PREFACE = b"PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n"
_HEADERS = 0x1


class _Http2Frames:
    """Counts HEADERS frames in one direction of one HTTP/2 connection, fed in arbitrary chunks."""

    def __init__(self) -> None:
        self._buffer = b""
        self._preface_seen = False
        self.headers = 0

    def feed(self, chunk: bytes) -> int:
        """Add `chunk`; the number of HEADERS frames it completed."""
        self._buffer += chunk
        if not self._preface_seen:
            if len(self._buffer) < len(_HTTP2_PREFACE):
                return 0
            self._buffer = self._buffer[len(_HTTP2_PREFACE):]
            self._preface_seen = True
        counted = 0
        while len(self._buffer) >= 9:
            length_high, length_low, frame_type = struct.unpack(">BHB", self._buffer[:4])
            end = 9 + (length_high << 16 | length_low)
            if len(self._buffer) < end:
                break
            counted += frame_type == _HEADERS
            self._buffer = self._buffer[end:]
        self.headers += counted
        return counted


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
        self.rpcs = 0
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
            for src, dst, frames in ((client, upstream, _Http2Frames()), (upstream, client, None)):
                threading.Thread(target=self._pipe, args=(src, dst, done, frames), name="delay-proxy-pipe", daemon=True).start()

    def _pipe(self, src: socket.socket, dst: socket.socket, done: threading.Barrier, frames: _Http2Frames | None) -> None:
        try:
            while True:
                chunk = src.recv(65536)
                if not chunk:
                    break
                if frames is not None:
                    started = frames.feed(chunk)
                    with self._lock:
                        self.rpcs += started
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
