"""Find and start the official Cloud Firestore emulator for local runs and tests.

Order (design.md): FIRESTORE_EMULATOR_HOST already set; the gcloud component's JAR run
with java (starts fastest, stops cleanly); `gcloud emulators firestore start`;
firebase-tools; otherwise a message saying how to install one.

Started from the JAR with a `functions_port`, the emulator delivers Firestore events the way
Eventarc does: to a CloudEvent function on 127.0.0.1:functions_port, for every trigger
registered with `add_trigger` (triggers live in the emulator's memory, so `start` registers
them again after a restart).
"""

from __future__ import annotations

import os
import shutil
import signal
import socket
import subprocess
import time
import json
import urllib.error
import urllib.request
from pathlib import Path

EMULATOR_MAIN_CLASS = "com.google.cloud.datastore.emulator.firestore.CloudFirestore"
JAR_UNDER_SDK = Path("platform/cloud-firestore-emulator/cloud-firestore-emulator.jar")
INSTALL_HINT = (
    "No Firestore emulator found. Install one of: `gcloud components install cloud-firestore-emulator` "
    "(or apt-get install google-cloud-cli-firestore-emulator), or `npm install -g firebase-tools`; "
    "or start one yourself and set FIRESTORE_EMULATOR_HOST=host:port."
)


# The event Cloud Functions' Firestore trigger subscribes to (`--trigger-event-filters=type=...`).
DOCUMENT_WRITTEN = "google.cloud.firestore.document.v1.written"


class EmulatorUnavailable(RuntimeError):
    pass


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def _sdk_roots() -> list[Path]:
    roots = [Path(p) for p in (os.environ.get("CLOUDSDK_ROOT_DIR"),) if p]
    gcloud = shutil.which("gcloud")
    if gcloud:
        roots.append(Path(os.path.realpath(gcloud)).parent.parent)
    roots += [Path("/usr/lib/google-cloud-sdk"), Path("/usr/share/google-cloud-sdk"), Path("/opt/google-cloud-sdk")]
    return roots


def find_jar() -> Path | None:
    return next((root / JAR_UNDER_SDK for root in _sdk_roots() if (root / JAR_UNDER_SDK).is_file()), None)


def _launch_command(host_port: str, project: str, functions_port: int | None = None) -> list[str]:
    host, port = host_port.rsplit(":", 1)
    jar = find_jar()
    if jar and shutil.which("java"):
        events = [f"--functions_emulator=127.0.0.1:{functions_port}"] if functions_port else []
        return ["java", "-Duser.language=en", "-cp", str(jar), EMULATOR_MAIN_CLASS, "start", f"--host={host}", f"--port={port}", *events]
    if shutil.which("gcloud"):
        return ["gcloud", "emulators", "firestore", "start", f"--host-port={host_port}", f"--project={project}"]
    if shutil.which("firebase"):
        return ["firebase", "emulators:start", "--only", "firestore", "--project", project]
    raise EmulatorUnavailable(INSTALL_HINT)


def stop_process_group(process: subprocess.Popen | None) -> None:
    """Stop a process started with start_new_session=True, and everything it started: TERM, then KILL after 10 s."""
    if process and process.poll() is None:
        os.killpg(process.pid, signal.SIGTERM)
        try:
            process.wait(timeout=10)
        except subprocess.TimeoutExpired:
            os.killpg(process.pid, signal.SIGKILL)
            process.wait()


def wait_until_ready(host_port: str, timeout_s: float = 60.0, process: subprocess.Popen | None = None) -> None:
    stop_at = time.monotonic() + timeout_s
    while time.monotonic() < stop_at:
        if process is not None and process.poll() is not None:
            raise EmulatorUnavailable(f"the Firestore emulator exited with code {process.returncode} before it was ready")
        try:
            with urllib.request.urlopen(f"http://{host_port}/", timeout=1) as response:
                if response.status == 200:
                    return
        except OSError:
            time.sleep(0.1)
    raise EmulatorUnavailable(f"the Firestore emulator at {host_port} did not answer within {timeout_s:.0f}s")


class Emulator:
    """A running emulator: ours to stop, or one the environment already named."""

    def __init__(self, project: str, log_path: Path | None = None, host_port: str | None = None,
                 functions_port: int | None = None) -> None:
        self.project = project
        self.process: subprocess.Popen | None = None
        existing = os.environ.get("FIRESTORE_EMULATOR_HOST", "")
        self.host_port = host_port or existing or f"127.0.0.1:{free_port()}"
        self._owned = host_port is not None or not existing
        self._log_path = log_path
        self.functions_port = functions_port
        # Whether events reach functions_port: only the JAR takes --functions_emulator (gcloud's
        # wrapper and firebase-tools do not pass it on), and only an emulator we start.
        self.delivers_events = False
        self._triggers: dict[str, dict] = {}

    def start(self) -> Emulator:
        if self._owned:
            # firebase-tools reads its port from firebase.json, so it is pinned to 8089 there.
            command = _launch_command(self.host_port, self.project, self.functions_port)
            if command[0] == "firebase":
                self.host_port = "127.0.0.1:8089"
            self.delivers_events = any(part.startswith("--functions_emulator=") for part in command)
            log = open(self._log_path, "ab") if self._log_path else subprocess.DEVNULL
            self.process = subprocess.Popen(command, stdout=log, stderr=subprocess.STDOUT, start_new_session=True)
        wait_until_ready(self.host_port, process=self.process)
        for trigger in self._triggers.values():
            self._register(trigger)
        return self

    def add_trigger(self, collection: str, project: str | None = None, trigger_id: str = "customer-written") -> None:
        """Deliver every write to `collection/{id}` in `project` to functions_port, now and after every restart."""
        trigger = {"project": project or self.project, "collection": collection, "id": trigger_id}
        self._triggers[f"{trigger['project']}/{trigger_id}"] = trigger
        self._register(trigger)

    def _register(self, trigger: dict) -> None:
        body = {"eventType": DOCUMENT_WRITTEN, "database": "(default)", "namespace": "(default)",
                "document": {"value": f"{trigger['collection']}/{{document_id}}", "matchType": "PATH_PATTERN"}}
        url = f"http://{self.host_port}/emulator/v1/projects/{trigger['project']}/eventarcTrigger?eventarcTriggerId={trigger['id']}"
        request = urllib.request.Request(url, data=json.dumps(body).encode(), method="POST", headers={"Content-Type": "application/json"})
        urllib.request.urlopen(request, timeout=60).close()  # as slow as a clear on a cold, busy emulator

    def stop(self) -> None:
        stop_process_group(self.process)
        self.process = None

    def clear(self, project: str | None = None) -> None:
        # With a trigger registered, the emulator fires a delete event for every document removed.
        url = f"http://{self.host_port}/emulator/v1/projects/{project or self.project}/databases/(default)/documents"
        for attempt in range(50):
            try:
                # The first clear after a start can take over 10 s on a busy machine (the emulator warming up).
                urllib.request.urlopen(urllib.request.Request(url, method="DELETE"), timeout=60).close()
                return
            except urllib.error.HTTPError as refused:
                # 409 while a transaction (a trigger converging) holds a document: it ends within moments.
                if refused.code != 409 or attempt == 49:
                    raise
                time.sleep(0.1)

    def __enter__(self) -> Emulator:
        return self.start()

    def __exit__(self, *_exc: object) -> None:
        self.stop()
