"""Strangers holding connections open, on the real server (functions-framework → gunicorn, 8 threads).

A refusal must not wait for a body it will never read, and a body that is being sent must
arrive within the request's deadline: otherwise eight idle connections (one per thread) stop
the instance and every real webhook behind them waits past Twilio's 5 s.
"""

from __future__ import annotations

import socket
import threading
import time
from urllib.parse import urlencode

import pytest
import requests

from tests.conftest import ADA, ADA_ADDRESS, AUTH_TOKEN, ROOT, sign
from tests.served_function import THREADS, ServedFunction, raw_request_head, read_until_closed, status_of

# Twilio gives up on a webhook after 5 s; the bound leaves half a second of slack under it.
ANSWER_WITHIN_S = 4.5
DEADLINE_S = "2.5"


@pytest.fixture(scope="module")
def served(emulator, standin_server):
    log = ROOT / ".local" / "served-slow-connections.log"
    log.parent.mkdir(exist_ok=True)
    function = ServedFunction(log, WEBHOOK_DEADLINE_S=DEADLINE_S).start().warm_up(AUTH_TOKEN)
    yield function
    function.stop()


@pytest.fixture()
def ada_stored(store):
    store.upsert("ada", ADA)


def open_idle(served: ServedFunction, count: int, content_length: int, first_bytes: bytes = b"") -> list[socket.socket]:
    """Connections that send a complete request head declaring a body, then (almost) nothing."""
    sockets = []
    for _ in range(count):
        sock = socket.create_connection(("127.0.0.1", served.port), timeout=5)
        sock.sendall(raw_request_head("POST", "/", {"Host": f"127.0.0.1:{served.port}", "Content-Type": "application/x-www-form-urlencoded",
                                                    "Content-Length": str(content_length)}) + first_bytes)
        sockets.append(sock)
    return sockets


def trickle(sockets: list[socket.socket], every_s: float, stop: threading.Event) -> threading.Thread:
    def run() -> None:
        while not stop.wait(every_s):
            for sock in sockets:
                try:
                    sock.send(b"k")
                except OSError:
                    pass
    thread = threading.Thread(target=run, daemon=True)
    thread.start()
    return thread


def signed_conversation_add(served: ServedFunction, address: str = ADA_ADDRESS) -> requests.Response:
    params = {"EventType": "onConversationAdd", "ChatServiceSid": "IS" + "0" * 32, "State": "active",
              "MessagingBinding.Address": address, "MessagingBinding.ProxyAddress": "+15005550006"}
    url = served.base_url + "/"
    return requests.post(url, data=urlencode(params), timeout=ANSWER_WITHIN_S,
                         headers={"Content-Type": "application/x-www-form-urlencoded", "X-Twilio-Signature": sign(url, params)})


def close_all(sockets: list[socket.socket]) -> None:
    for sock in sockets:
        sock.close()


@pytest.mark.parametrize("trickling", [False, True], ids=["silent", "one-byte-every-2s"])
def test_eight_idle_connections_declaring_a_megabyte_do_not_hold_up_a_signed_webhook(served, ada_stored, trickling):
    idle = open_idle(served, THREADS, 1_000_000)
    stop = threading.Event()
    if trickling:
        trickle(idle, 2.0, stop)
    try:
        time.sleep(0.5)  # every thread has picked one of them up
        started = time.monotonic()
        response = signed_conversation_add(served)  # raises ReadTimeout past ANSWER_WITHIN_S
        assert response.status_code == 200 and response.json()["friendly_name"] == "Ada Lovelace"
        print(f"signed webhook answered in {time.monotonic() - started:.3f}s behind {THREADS} idle connections")
        # Each of them was refused by its declared length, and the server closed the connection
        # rather than wait for a megabyte it would not read.
        for sock in idle:
            answer, closed = read_until_closed(sock, 5.0)
            assert status_of(answer) == 413 and closed, answer[:200]
    finally:
        stop.set()
        close_all(idle)


def test_bodies_that_never_finish_arriving_are_cut_off_at_the_deadline(served, ada_stored):
    # Declared within MAX_BODY_BYTES, so they are not refused by size; then one byte every 0.5 s.
    slow = open_idle(served, THREADS, 5000, first_bytes=b"EventType=onConversationAdd&")
    stop = threading.Event()
    trickle(slow, 0.5, stop)
    try:
        time.sleep(0.5)
        response = signed_conversation_add(served)
        assert response.status_code == 200 and response.json()["friendly_name"] == "Ada Lovelace"
        for sock in slow:
            answer, closed = read_until_closed(sock, 10.0)
            assert status_of(answer) == 408 and closed, answer[:200]
            assert b"request body not received within" in answer
    finally:
        stop.set()
        close_all(slow)


def test_a_64_megabyte_declaration_is_refused_without_reading_the_body(served):
    sock = open_idle(served, 1, 64 * 1024 * 1024, first_bytes=b"x" * 65536)[0]
    try:
        answer, closed = read_until_closed(sock, 5.0)
        assert status_of(answer) == 413 and closed, answer[:200]
    finally:
        sock.close()


def test_a_refusal_with_its_small_body_read_keeps_the_connection_usable(served):
    # An ordinary 403 (the body was read to check the signature) is answered like any response:
    # the same connection serves the next request.
    with requests.Session() as session:
        for _ in range(3):
            response = session.post(served.base_url + "/", data="EventType=onConversationAdd", timeout=5,
                                    headers={"Content-Type": "application/x-www-form-urlencoded", "X-Twilio-Signature": "forged"})
            assert response.status_code == 403 and response.json() == {"error": "invalid X-Twilio-Signature"}
