"""`make run`: the Firestore emulator, the sample customers, and the function on :8080.

The emulator delivers every write to `customers/` to the Firestore trigger `customer_written`,
served beside the webhook, as Eventarc does in production: a profile typed into the emulator
by hand is indexed within a second. Everything it starts stops on Ctrl-C. Local runs use a
`demo-` project id, so nothing can reach live data, and a local-only auth token unless
TWILIO_AUTH_TOKEN is set.
"""

from __future__ import annotations

import io
import os
import signal
import subprocess
import sys
from pathlib import Path

from tools.emulator import Emulator, EmulatorUnavailable, free_port
from tools.local_trigger import TriggerServer

ROOT = Path(__file__).resolve().parent.parent
LOCAL_DEFAULTS = {
    "GOOGLE_CLOUD_PROJECT": "demo-frontline",
    "TWILIO_AUTH_TOKEN": "local-dev-token",
    "TWILIO_ACCOUNT_SID": "AC" + "0" * 32,
}


def main() -> int:
    port = int(os.environ.get("PORT", "8080"))
    for name, value in LOCAL_DEFAULTS.items():
        os.environ.setdefault(name, value)
    project = os.environ["GOOGLE_CLOUD_PROJECT"]
    if not project.startswith("demo-") and not os.environ.get("FIRESTORE_EMULATOR_HOST"):
        print(f"refusing to run locally against project {project!r}: use a demo- project id", file=sys.stderr)
        return 2
    (ROOT / ".local").mkdir(exist_ok=True)
    emulator = Emulator(project, log_path=ROOT / ".local" / "firestore-emulator.log", functions_port=free_port())
    try:
        emulator.start()
    except EmulatorUnavailable as error:
        print(error, file=sys.stderr)
        return 1
    os.environ["FIRESTORE_EMULATOR_HOST"] = emulator.host_port
    server = trigger = None
    try:
        trigger = _serve_trigger(emulator)
        from tools.customers import import_file, import_frontline_samples

        # The same loader as `python -m tools.customers import`: validated rows, index kept right.
        report = import_file(ROOT / "samples" / "customers.csv", out=io.StringIO())
        if report.problems:
            return 1
        count = len(report.results)
        workers, categories = import_frontline_samples(ROOT / "samples" / "workers.json", ROOT / "samples" / "templates.json")
        print(f"Firestore emulator on {emulator.host_port} (project {project}); loaded {count} sample customers, "
              f"{workers} workers, {categories} template categories")
        server = subprocess.Popen(
            [sys.executable, "-m", "functions_framework", "--target", "frontline_webhook", "--source", str(ROOT / "main.py"),
             "--host", "127.0.0.1", "--port", str(port)],
            cwd=ROOT, start_new_session=True,
        )
        url = f"http://127.0.0.1:{port}/"
        print(f"\nServing frontline_webhook on {url}  (Ctrl-C stops everything)\nTry it, in another terminal:\n")
        local_token = os.environ["TWILIO_AUTH_TOKEN"] == LOCAL_DEFAULTS["TWILIO_AUTH_TOKEN"]
        token_arg = LOCAL_DEFAULTS["TWILIO_AUTH_TOKEN"] if local_token else '"$TWILIO_AUTH_TOKEN"'
        print(f"  .venv/bin/python -m tools.send_sample --url {url} --address +15558675310 --token {token_arg}\n", flush=True)
        print(_trigger_banner(trigger, emulator, url, token_arg), flush=True)
        return server.wait()
    except KeyboardInterrupt:
        return 0
    finally:
        if server and server.poll() is None:
            os.killpg(server.pid, signal.SIGTERM)
            server.wait(timeout=10)
        if trigger:
            trigger.stop()
        emulator.stop()
        print("stopped the functions and the Firestore emulator")


def _serve_trigger(emulator: Emulator) -> TriggerServer | None:
    """customer_written on the emulator's functions port, and the emulator's trigger pointing at it."""
    if not emulator.delivers_events or emulator.functions_port is None:
        return None
    from runtime.config import store_settings

    trigger = TriggerServer(emulator.functions_port).start()
    emulator.add_trigger(store_settings().customers_collection)
    return trigger


def _trigger_banner(trigger: TriggerServer | None, emulator: Emulator, url: str, token_arg: str) -> str:
    if trigger is None:
        return ("customer_written is not running: only the emulator's JAR started with java delivers Firestore events.\n"
                "Write profiles with `python -m tools.customers import`, or repair hand-written ones with `check --fix`.\n")
    profile = "{'display_name': 'Typed By Hand', 'channels': [{'type': 'sms', 'value': '+15550100999'}]}"
    return (f"Serving customer_written on {trigger.url}, the Firestore trigger: a profile written to customers/ in the\n"
            "emulator with any client is indexed within a second. Try it:\n\n"
            f"  FIRESTORE_EMULATOR_HOST={emulator.host_port} .venv/bin/python -c \"from google.cloud import firestore; "
            f"firestore.Client(project='{emulator.project}').collection('customers').document('hand').set({profile})\"\n"
            f"  .venv/bin/python -m tools.send_sample --url {url} --address +15550100999 --token {token_arg}\n")


if __name__ == "__main__":
    sys.exit(main())
