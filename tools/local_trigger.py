"""Serve the Firestore trigger `customer_written` locally, where the emulator delivers its events.

The same functions-framework that Cloud Functions runs, as a CloudEvent function on
127.0.0.1:PORT; `Emulator(functions_port=PORT)` plus `add_trigger` makes the emulator POST
every write of a profile there, as Eventarc does in production.
"""

from __future__ import annotations

import socket
import subprocess
import sys
import time
from collections.abc import Mapping
from pathlib import Path

from tools.emulator import stop_process_group

ROOT = Path(__file__).resolve().parent.parent
TARGET = "customer_written"


class TriggerServer:
    def __init__(self, port: int, env: Mapping[str, str] | None = None, log_path: Path | None = None) -> None:
        self.port = port
        self.url = f"http://127.0.0.1:{port}/"
        self._env = dict(env) if env is not None else None
        self._log_path = log_path
        self.process: subprocess.Popen | None = None

    def start(self, timeout_s: float = 60.0) -> TriggerServer:
        log = open(self._log_path, "ab") if self._log_path else None
        self.process = subprocess.Popen(
            [sys.executable, "-m", "functions_framework", "--target", TARGET, "--signature-type", "cloudevent",
             "--source", str(ROOT / "main.py"), "--host", "127.0.0.1", "--port", str(self.port)],
            cwd=ROOT, env=self._env, stdout=log, stderr=subprocess.STDOUT if log else None, start_new_session=True,
        )
        if log:
            log.close()  # the child holds its own copy
        stop_at = time.monotonic() + timeout_s
        while time.monotonic() < stop_at:
            if self.process.poll() is not None:
                raise RuntimeError(f"{TARGET} exited with code {self.process.returncode} before serving")
            try:
                socket.create_connection(("127.0.0.1", self.port), timeout=0.5).close()
                return self
            except OSError:
                time.sleep(0.1)
        self.stop()
        raise RuntimeError(f"{TARGET} did not listen on port {self.port} within {timeout_s:.0f}s")

    def stop(self) -> None:
        stop_process_group(self.process)
        self.process = None
