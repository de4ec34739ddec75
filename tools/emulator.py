"""Find and start the official Cloud Firestore emulator for local runs and tests.

Order (design.md): FIRESTORE_EMULATOR_HOST already set; the gcloud component's JAR run
with java (starts fastest, stops cleanly); `gcloud emulators firestore start`;
firebase-tools; otherwise a message saying how to install one.
"""

from __future__ import annotations

import os
import shutil
import signal
import socket
import subprocess
import time
import urllib.request
from pathlib import Path

EMULATOR_MAIN_CLASS = "com.google.cloud.datastore.emulator.firestore.CloudFirestore"
JAR_UNDER_SDK = Path("platform/cloud-firestore-emulator/cloud-firestore-emulator.jar")
INSTALL_HINT = (
    "No Firestore emulator found. Install one of: `gcloud components install cloud-firestore-emulator` "
    "(or apt-get install google-cloud-cli-firestore-emulator), or `npm install -g firebase-tools`; "
    "or start one yourself and set FIRESTORE_EMULATOR_HOST=host:port."
)


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


def _launch_command(host_port: str, project: str) -> list[str]:
    host, port = host_port.rsplit(":", 1)
    jar = find_jar()
    if jar and shutil.which("java"):
        return ["java", "-Duser.language=en", "-cp", str(jar), EMULATOR_MAIN_CLASS, "start", f"--host={host}", f"--port={port}"]
    if shutil.which("gcloud"):
        return ["gcloud", "emulators", "firestore", "start", f"--host-port={host_port}", f"--project={project}"]
    if shutil.which("firebase"):
        return ["firebase", "emulators:start", "--only", "firestore", "--project", project]
    raise EmulatorUnavailable(INSTALL_HINT)


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

    def __init__(self, project: str, log_path: Path | None = None, host_port: str | None = None) -> None:
        self.project = project
        self.process: subprocess.Popen | None = None
        existing = os.environ.get("FIRESTORE_EMULATOR_HOST", "")
        self.host_port = host_port or existing or f"127.0.0.1:{free_port()}"
        self._owned = host_port is not None or not existing
        self._log_path = log_path

    def start(self) -> Emulator:
        if self._owned:
            # firebase-tools reads its port from firebase.json, so it is pinned to 8089 there.
            command = _launch_command(self.host_port, self.project)
            if command[0] == "firebase":
                self.host_port = "127.0.0.1:8089"
            log = open(self._log_path, "ab") if self._log_path else subprocess.DEVNULL
            self.process = subprocess.Popen(command, stdout=log, stderr=subprocess.STDOUT, start_new_session=True)
        wait_until_ready(self.host_port, process=self.process)
        return self

    def stop(self) -> None:
        if self.process and self.process.poll() is None:
            os.killpg(self.process.pid, signal.SIGTERM)
            try:
                self.process.wait(timeout=10)
            except subprocess.TimeoutExpired:
                os.killpg(self.process.pid, signal.SIGKILL)
                self.process.wait()
        self.process = None

    def clear(self) -> None:
        url = f"http://{self.host_port}/emulator/v1/projects/{self.project}/databases/(default)/documents"
        # The first DELETE on a fresh emulator warms its JVM: measured 12 s on a loaded 2-core machine.
        urllib.request.urlopen(urllib.request.Request(url, method="DELETE"), timeout=60).close()

    def __enter__(self) -> Emulator:
        return self.start()

    def __exit__(self, *_exc: object) -> None:
        self.stop()
