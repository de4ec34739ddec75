"""The function's server as Cloud Functions runs it, and the CPU time of its processes."""

from __future__ import annotations

import http.client
import json
import os
import signal
import subprocess
import sys
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any
from urllib.parse import urlencode

from bench.cgroup import CpuCap
from bench.common import ACCOUNT_SID, AUTH_TOKEN, GUNICORN_THREADS, PROJECT, ROOT, BenchError
from bench.signed import signature

# --- processes and their CPU time -----------------------------------------------------------

_CLOCK_TICKS = os.sysconf("SC_CLK_TCK")


def _children(pid: int) -> list[int]:
    found = []
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit():
            try:
                stat = (entry / "stat").read_text()
            except OSError:
                continue
            if int(stat.rsplit(")", 1)[1].split()[1]) == pid:
                found.append(int(entry.name))
    return found


def tree_cpu_s(pid: int) -> float:
    """User + system CPU seconds of a process and its descendants (threads included)."""
    total = 0.0
    for member in [pid, *_descendants(pid)]:
        try:
            fields = Path(f"/proc/{member}/stat").read_text().rsplit(")", 1)[1].split()
        except OSError:
            continue
        total += (int(fields[11]) + int(fields[12])) / _CLOCK_TICKS
    return total


def tree_pss_mib(pid: int) -> float:
    """Proportional set size of a process and its descendants, in MiB: memory a forked worker shares
    with its master is counted once, as the instance's memory limit sees it."""
    total_kib = 0
    for member in [pid, *_descendants(pid)]:
        try:
            rollup = Path(f"/proc/{member}/smaps_rollup").read_text()
        except OSError:
            continue
        total_kib += next((int(line.split()[1]) for line in rollup.splitlines() if line.startswith("Pss:")), 0)
    return total_kib / 1024


def _descendants(pid: int) -> list[int]:
    out, frontier = [], [pid]
    while frontier:
        children = [c for p in frontier for c in _children(p)]
        out += children
        frontier = children
    return out


def stop_group(process: subprocess.Popen, sig: int = signal.SIGINT) -> None:
    if process.poll() is None:
        try:
            os.killpg(process.pid, sig)
            process.wait(timeout=10)
        except subprocess.TimeoutExpired:
            os.killpg(process.pid, signal.SIGKILL)
            process.wait()
        except ProcessLookupError:
            pass


# --- the server -------------------------------------------------------------------------------

def cli_command(port: int, target: str = "frontline_webhook", source: Path = ROOT / "main.py") -> list[str]:
    """functions-framework's own CLI, as the Cloud Functions runtime starts it: the master imports
    the source, gunicorn forks one worker with THREADS threads (from the environment)."""
    return [sys.executable, "-m", "functions_framework", "--target", target, "--source", str(source), "--host", "127.0.0.1",
            "--port", str(port)]


def server_command(port: int, target: str = "frontline_webhook", source: Path = ROOT / "main.py") -> list[str]:
    # The options functions-framework's own gunicorn launcher sets (workers 1, threads cpu*4,
    # timeout 0, loglevel error, unlimited request line), with its app factory as the WSGI app.
    return [sys.executable, "-m", "gunicorn", "--bind", f"127.0.0.1:{port}", "--workers", "1",
            "--threads", str(GUNICORN_THREADS), "--timeout", "0", "--log-level", "error", "--limit-request-line", "0",
            f'functions_framework:create_app(target="{target}", source="{source}")']


def server_env(emulator_host: str, twilio_base_url: str) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if k not in ("PUBLIC_URL", "TWILIO_API_KEY", "TWILIO_API_SECRET",
                                                               "CUSTOMERS_COLLECTION", "DEFAULT_REGION", "LOG_LEVEL",
                                                               "WEBHOOK_DEADLINE_S", "PYTHONDONTWRITEBYTECODE")}
    # Bytecode caching stays on (as in a built image): only the first, discarded start compiles.
    env.update({
        "TWILIO_AUTH_TOKEN": AUTH_TOKEN, "TWILIO_ACCOUNT_SID": ACCOUNT_SID, "GOOGLE_CLOUD_PROJECT": PROJECT,
        "FIRESTORE_EMULATOR_HOST": emulator_host, "TWILIO_API_BASE_URL": twilio_base_url, "PYTHONPATH": str(ROOT),
    })
    return env


@dataclass
class Server:
    env: dict[str, str]
    log_path: Path
    target: str = "frontline_webhook"
    source: Path = ROOT / "main.py"
    cli: bool = False  # functions-framework's CLI instead of gunicorn around its app factory
    cap: CpuCap | None = None  # run inside this cgroup (its CPU quota)
    port: int = 0
    process: subprocess.Popen | None = None
    started_at: float = 0.0

    def start(self) -> Server:
        from tools.emulator import free_port

        self.port = free_port()
        log_file = open(self.log_path, "ab")
        command = (cli_command if self.cli else server_command)(self.port, self.target, self.source)
        self.started_at = time.perf_counter()
        self.process = subprocess.Popen(command, cwd=ROOT, env=self.env, stdout=log_file, stderr=subprocess.STDOUT,
                                        start_new_session=True, preexec_fn=self.cap.enter if self.cap else None)
        log_file.close()
        return self

    def elapsed(self) -> float:
        return time.perf_counter() - self.started_at

    def _check_alive(self) -> None:
        assert self.process is not None
        if self.process.poll() is not None:
            raise BenchError(f"the server exited with code {self.process.returncode}; see {self.log_path}")
        if self.elapsed() > 60:
            raise BenchError(f"the server did not answer within 60 s; see {self.log_path}")

    def first_answer(self, path: str, form: dict[str, str] | None) -> tuple[float, float, int, Any]:
        """Poll until the server answers: (seconds to accept a connection, seconds to the answer, status, body).

        With a form: a signed POST (the cold-start measurement). Without: an unsigned GET, which
        the function refuses with 403 before touching Firestore (the server is up, nothing warmed).
        """
        listening = None
        while True:
            self._check_alive()
            connection = http.client.HTTPConnection("127.0.0.1", self.port, timeout=30)
            try:
                connection.connect()
            except ConnectionRefusedError:
                connection.close()
                time.sleep(0.002)
                continue
            listening = listening if listening is not None else self.elapsed()
            try:
                if form is None:
                    connection.request("GET", path)
                else:
                    body = urlencode(form)
                    connection.request("POST", path, body, {
                        "Content-Type": "application/x-www-form-urlencoded",
                        "X-Twilio-Signature": signature(f"http://127.0.0.1:{self.port}{path}", form)})
                response = connection.getresponse()
                data = response.read()
            except (ConnectionResetError, http.client.RemoteDisconnected):
                time.sleep(0.002)
                continue
            finally:
                connection.close()
            answered = self.elapsed()
            try:
                decoded: Any = json.loads(data)
            except ValueError:
                decoded = data.decode(errors="replace")
            return listening, answered, response.status, decoded

    def worker_pid(self) -> int:
        assert self.process is not None
        for _ in range(100):
            children = _children(self.process.pid)
            if children:
                return children[0]
            time.sleep(0.05)
        raise BenchError("gunicorn started no worker")

    def stop(self) -> None:
        if self.process is not None:
            stop_group(self.process)
            self.process = None


