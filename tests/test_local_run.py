"""`make run`'s wiring end to end: `tools.run_local` in a subprocess (on free ports, against the
session's emulator), then every command its banner prints, run as a user would paste it.
The tests share one run and build on each other, in file order."""

from __future__ import annotations

import os
import queue
import shlex
import signal
import socket
import subprocess
import sys
import threading
import time

import pytest

from tests.conftest import ROOT
from tools.emulator import free_port

PROJECT = "demo-frontline-run"
COMMAND_PREFIX = ".venv/bin/python -m tools.send_sample "
START_TIMEOUT_S = 120


class RunningLocal:
    def __init__(self, emulator_host: str) -> None:
        self.port, self.sandbox_port = free_port(), free_port()
        env = {k: v for k, v in os.environ.items()
               if k not in ("TWILIO_AUTH_TOKEN", "TWILIO_ACCOUNT_SID", "TWILIO_API_BASE_URL", "PUBLIC_URL", "PORT")}
        # A generous deadline: this is about the wiring, and a loaded machine makes the first Firestore client slow.
        self.env = {**env, "GOOGLE_CLOUD_PROJECT": PROJECT, "FIRESTORE_EMULATOR_HOST": emulator_host, "WEBHOOK_DEADLINE_S": "4.5"}
        self.process = subprocess.Popen([sys.executable, "-m", "tools.run_local", "--port", str(self.port), "--sandbox-port", str(self.sandbox_port)],
                                        cwd=ROOT, env=self.env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True,
                                        start_new_session=True)
        self.lines: queue.Queue[str] = queue.Queue()
        self.seen: list[str] = []
        threading.Thread(target=self._read, daemon=True).start()

    def _read(self) -> None:
        assert self.process.stdout is not None
        for line in self.process.stdout:
            self.lines.put(line.rstrip("\n"))

    def read_until(self, marker: str, timeout_s: float) -> list[str]:
        stop_at = time.monotonic() + timeout_s
        while time.monotonic() < stop_at:
            try:
                line = self.lines.get(timeout=0.5)
            except queue.Empty:
                if self.process.poll() is not None:
                    break
                continue
            self.seen.append(line)
            if marker in line:
                return self.seen
        raise AssertionError(f"{marker!r} not printed; output so far:\n" + "\n".join(self.seen))

    def drain(self) -> list[str]:
        while True:
            try:
                self.seen.append(self.lines.get(timeout=1))
            except queue.Empty:
                return self.seen

    def wait_until_serving(self) -> None:
        stop_at = time.monotonic() + START_TIMEOUT_S
        while time.monotonic() < stop_at:
            with socket.socket() as sock:
                if sock.connect_ex(("127.0.0.1", self.port)) == 0:
                    return
            time.sleep(0.2)
        raise AssertionError("the function did not start listening")

    def run(self, command: str) -> subprocess.CompletedProcess:
        argv = shlex.split(command)
        assert argv[0] == ".venv/bin/python"
        return subprocess.run([sys.executable, *argv[1:]], cwd=ROOT, env=self.env, capture_output=True, text=True, timeout=60)

    def stop(self) -> int:
        if self.process.poll() is None:
            os.killpg(self.process.pid, signal.SIGINT)
            try:
                return self.process.wait(timeout=30)
            except subprocess.TimeoutExpired:
                os.killpg(self.process.pid, signal.SIGKILL)
        return self.process.wait()


@pytest.fixture(scope="module")
def make_run(emulator):
    """One `make run` for the module (each start costs seconds); the tests below run in order on it."""
    emulator.clear(PROJECT)
    running = RunningLocal(emulator.host_port)
    try:
        running.read_until("Every event and option", START_TIMEOUT_S)
        running.wait_until_serving()
        yield running
    finally:
        running.stop()


def banner_commands(lines: list[str]) -> list[str]:
    """The commands of the send_sample banner (the trigger's banner, when it runs, has its own)."""
    return [line.strip() for line in lines if line.strip().startswith(COMMAND_PREFIX) and " --event " in line]


def test_every_banner_command_works_against_make_runs_wiring(make_run):
    commands = banner_commands(make_run.seen)
    assert 3 <= len(commands) <= 4, make_run.seen
    events = [shlex.split(command)[shlex.split(command).index("--event") + 1] for command in commands]
    assert events == ["onConversationAdd", "onParticipantAdded", "routing", "GetCustomerDetailsByCustomerId"]
    results = {event: make_run.run(command) for event, command in zip(events, commands, strict=True)}
    for event, result in results.items():
        assert result.returncode == 0, (event, result.stdout, result.stderr)
        assert f"{event} -> HTTP 200" in result.stdout, result.stdout

    assert '"friendly_name": "Ada Lovelace"' in results["onConversationAdd"].stdout
    participant = results["onParticipantAdded"].stdout
    assert "before: {}" in participant
    after = next(line for line in participant.splitlines() if "after:" in line)
    assert '"customer_id": "cust-ada"' in after and '"display_name": "Ada Lovelace"' in after
    assert "participant added:" in results["routing"].stdout and "identity alice@example.com" in results["routing"].stdout
    assert '"display_name": "Ada Lovelace"' in results["GetCustomerDetailsByCustomerId"].stdout

    # The function really called the sandbox: its REST calls show in make run's output.
    output = make_run.drain()
    assert any(line.startswith("[twilio sandbox] POST /v1/Conversations/") for line in output), output


def test_the_opt_out_walkthrough_the_banner_describes(make_run):
    first, *_, details = banner_commands(make_run.seen)
    stop = make_run.run(first.replace("--event onConversationAdd", "--event onMessageAdded --body STOP"))
    assert stop.returncode == 0 and "onMessageAdded -> HTTP 200" in stop.stdout, stop.stdout + stop.stderr

    refused = make_run.run(first.replace("--event onConversationAdd", "--event onMessageAdd"))
    assert refused.returncode == 1, refused.stdout + refused.stderr
    assert "onMessageAdd -> HTTP 403" in refused.stdout and "This customer opted out of messages on " in refused.stdout
    assert "Opted out of messages on " in make_run.run(details).stdout

    own = make_run.run(first.replace("--event onConversationAdd", "--event onMessageAdd --from customer"))
    assert own.returncode == 0, own.stdout

    make_run.run(first.replace("--event onConversationAdd", "--event onMessageAdded --body START"))
    again = make_run.run(first.replace("--event onConversationAdd", "--event onMessageAdd"))
    assert again.returncode == 0 and "onMessageAdd -> HTTP 200" in again.stdout, again.stdout


def test_the_other_events_and_callbacks_can_be_sent(make_run):
    first = banner_commands(make_run.seen)[0]
    base = first.replace(" --event onConversationAdd", "")
    group = make_run.run(f"{base} --event onConversationAdd --address +15558675310 --address +15550100001 --address +15550009999")
    assert '"friendly_name": "Ada Lovelace, Grace Hopper, +15550009999"' in group.stdout, group.stdout
    listed = make_run.run(f"{base} --event GetCustomersList --worker alice@example.com --query grace")
    assert '"customer_id": "cust-grace"' in listed.stdout and "cust-ada" not in listed.stdout, listed.stdout
    proxy = make_run.run(f"{base} --event GetProxyAddress --worker alice@example.com --customer-id cust-ada")
    assert '"proxy_address": "+15005550006"' in proxy.stdout, proxy.stdout
    templates = make_run.run(f"{base} --event GetTemplatesByCustomerId --worker alice@example.com --customer-id cust-ada")
    assert templates.returncode == 0 and "Ada" in templates.stdout, templates.stdout


def test_ctrl_c_stops_everything_it_started(make_run):
    assert make_run.stop() == 0
    output = make_run.drain()
    assert any("stopped the functions, the Twilio sandbox and the Firestore emulator" in line for line in output), output
    for port in (make_run.port, make_run.sandbox_port):
        with socket.socket() as sock:
            assert sock.connect_ex(("127.0.0.1", port)) != 0, f"port {port} still open"
