"""The function served the way Cloud Functions gen2 serves it: the `functions-framework` command,
which runs gunicorn (one worker, THREADS threads), in a subprocess on 127.0.0.1.

Flask's test client hands the function a body that is already there; slow or idle connections,
the framework's after-request drain and how a connection is closed only show on a real server.
"""

from __future__ import annotations

import os
import socket
import subprocess
import sys
import time
from pathlib import Path

from tools.emulator import free_port

ROOT = Path(__file__).resolve().parent.parent
THREADS = 8  # functions-framework's default on 2 CPUs (cpu_count * 4), set so the test does not depend on the machine


class ServedFunction:
    def __init__(self, log_path: Path, **env: str) -> None:
        self.port = free_port()
        self.log_path = log_path
        self._env = {**os.environ, "THREADS": str(THREADS), "PYTHONUNBUFFERED": "1", **env}
        self._process: subprocess.Popen | None = None

    @property
    def base_url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def start(self, timeout_s: float = 30.0) -> ServedFunction:
        with open(self.log_path, "wb") as log:
            self._process = subprocess.Popen(
                [sys.executable, "-m", "functions_framework", "--target", "frontline_webhook", "--source", str(ROOT / "main.py"),
                 "--host", "127.0.0.1", "--port", str(self.port)],
                cwd=ROOT, env=self._env, stdout=log, stderr=subprocess.STDOUT, start_new_session=True)
        stop_at = time.monotonic() + timeout_s
        while True:
            try:
                socket.create_connection(("127.0.0.1", self.port), timeout=1).close()
                return self
            except OSError:
                if self._process.poll() is not None or time.monotonic() > stop_at:
                    raise RuntimeError(f"functions-framework did not start; see {self.log_path}") from None
                time.sleep(0.1)

    def stop(self) -> None:
        if self._process is not None and self._process.poll() is None:
            self._process.terminate()
            try:
                self._process.wait(timeout=10)
            except subprocess.TimeoutExpired:
                self._process.kill()
                self._process.wait()

    def log_lines(self) -> list[str]:
        return self.log_path.read_text(encoding="utf-8", errors="replace").splitlines()

    def warm_up(self, auth_token: str, within_s: float = 60.0) -> ServedFunction:
        """Send signed webhooks until one runs its lookup without an ERROR line. An instance's first
        lookup also creates the Firestore client, which a loaded machine can take past the deadline
        (the answer then falls back to the address); tests of a running instance start after that."""
        import requests
        from twilio.request_validator import RequestValidator

        url = self.base_url + "/"
        params = {"EventType": "onConversationAdd", "MessagingBinding.Address": "+15550100999"}
        headers = {"Content-Type": "application/x-www-form-urlencoded", "X-Twilio-Signature": RequestValidator(auth_token).compute_signature(url, params)}
        stop_at = time.monotonic() + within_s
        while time.monotonic() < stop_at:
            seen = len(self.log_lines())
            requests.post(url, data=params, headers=headers, timeout=10)
            if not any('"ERROR"' in line for line in self.log_lines()[seen:]):
                return self
            time.sleep(1.0)
        self.stop()
        raise RuntimeError(f"the served function kept failing its lookups; see {self.log_path}")


def raw_request_head(method: str, path: str, headers: dict[str, str]) -> bytes:
    lines = [f"{method} {path} HTTP/1.1", *(f"{name}: {value}" for name, value in headers.items()), "", ""]
    return "\r\n".join(lines).encode("latin-1")


def read_until_closed(sock: socket.socket, timeout_s: float) -> tuple[bytes, bool]:
    """Everything the server sends until it closes the connection; (data, closed) when the time is up."""
    sock.settimeout(timeout_s)
    stop_at = time.monotonic() + timeout_s
    data = b""
    while time.monotonic() < stop_at:
        try:
            chunk = sock.recv(65536)
        except TimeoutError:
            return data, False
        except ConnectionResetError:
            return data, True
        if not chunk:
            return data, True
        data += chunk
        sock.settimeout(max(stop_at - time.monotonic(), 0.01))
    return data, False


def status_of(response: bytes) -> int | None:
    first = response.split(b"\r\n", 1)[0].split()
    return int(first[1]) if len(first) >= 2 and first[1].isdigit() else None
