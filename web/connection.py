"""The TCP connection under a request: closing it after a refusal, and bounding how long a body takes.

WSGI has no way to say "close this connection" or "stop waiting for this body", and both decide
whether strangers can stall an instance. gunicorn, which the `functions-framework` command runs
(locally, and in Cloud Functions gen2, whose buildpack starts exactly that command), hands the
application its socket as `environ["gunicorn.socket"]`. Shutting down the socket's read side
ends a blocked read at once (it returns end-of-file), so neither our body read nor gunicorn's
own drain of an unread body waits for bytes that may never come, and gunicorn then closes the
connection. Without that socket (Flask's test client, werkzeug's debug server) these are no-ops.
"""

from __future__ import annotations

import heapq
import itertools
import socket
import threading
import time
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from typing import Any


def socket_of(environ: Mapping[str, Any]) -> socket.socket | None:
    sock = environ.get("gunicorn.socket")
    return sock if isinstance(sock, socket.socket) else None


def _shutdown(sock: socket.socket, how: int) -> None:
    try:
        sock.shutdown(how)
    except OSError:
        pass  # already closed by the client or by gunicorn


def close_after_reply(response: Any, environ: Mapping[str, Any]) -> None:
    """Close the connection once `response` has been sent (its close hook runs after the last byte).

    The unread rest of the body is then never read: not by functions-framework (which skips its
    drain for a streamed response, see web/replies.py) and not by gunicorn (which reads end-of-file).
    """
    sock = socket_of(environ)
    if sock is not None:
        response.call_on_close(lambda: _shutdown(sock, socket.SHUT_RDWR))


class _Watchdog:
    """One thread that cuts off reads past their deadline, so a bounded read costs no thread of its own."""

    def __init__(self) -> None:
        self._wake = threading.Condition()
        self._due: list[tuple[float, int, socket.socket]] = []
        self._cancelled: set[int] = set()
        self._fired: set[int] = set()
        self._ids = itertools.count()
        self._thread: threading.Thread | None = None

    def watch(self, sock: socket.socket, seconds: float) -> int:
        with self._wake:
            ticket = next(self._ids)
            entry = (time.monotonic() + seconds, ticket, sock)
            heapq.heappush(self._due, entry)
            if self._thread is None:
                self._thread = threading.Thread(target=self._run, name="body-read-watchdog", daemon=True)
                self._thread.start()
            if self._due[0] is entry:  # otherwise the thread already wakes up earlier than this is due
                self._wake.notify()
            return ticket

    def release(self, ticket: int) -> bool:
        """Stop watching; True when the read was cut off."""
        with self._wake:
            if ticket in self._fired:
                self._fired.discard(ticket)
                return True
            self._cancelled.add(ticket)
            return False

    def _run(self) -> None:
        with self._wake:
            while True:
                while self._due and self._due[0][1] in self._cancelled:
                    self._cancelled.discard(heapq.heappop(self._due)[1])
                if not self._due:
                    self._wake.wait()
                    continue
                wait = self._due[0][0] - time.monotonic()
                if wait > 0:
                    self._wake.wait(wait)
                    continue
                _, ticket, sock = heapq.heappop(self._due)
                self._fired.add(ticket)
                _shutdown(sock, socket.SHUT_RD)


_watchdog = _Watchdog()


class Cutoff:
    """Whether a bounded read was cut off at its deadline (only known once the `with` block ends)."""

    fired = False


@contextmanager
def reads_bounded(environ: Mapping[str, Any], seconds: float) -> Iterator[Cutoff]:
    """Reads of the request body inside the block end (short) once `seconds` have passed.

    A per-read socket timeout would not do: a client sending a byte just before each timeout keeps
    a read going for ever. The watchdog instead shuts the socket's read side at the deadline.
    """
    cutoff = Cutoff()
    sock = socket_of(environ)
    if sock is None:
        yield cutoff
        return
    ticket = _watchdog.watch(sock, max(seconds, 0.0))
    try:
        yield cutoff
    finally:
        cutoff.fired = _watchdog.release(ticket)
