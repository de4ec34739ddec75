"""`make run`: the Firestore emulator, the sample customers, a Twilio sandbox, and the function on :8080.

The emulator delivers every write to `customers/` to the Firestore trigger `customer_written`,
served beside the webhook, as Eventarc does in production: a profile typed into the emulator
by hand is indexed within a second. Twilio REST calls go to a sandbox on 127.0.0.1
(tools/twilio_sandbox.py, port --sandbox-port, default the function's + 1) holding a sample
conversation, unless TWILIO_API_BASE_URL names another. Everything it starts stops on Ctrl-C.
Local runs use a `demo-` project id, so nothing can reach live data, and a local-only auth
token unless TWILIO_AUTH_TOKEN is set.
"""

from __future__ import annotations

import argparse
import io
import os
import signal
import subprocess
import sys
from pathlib import Path

from tools.emulator import Emulator, EmulatorUnavailable, free_port
from tools.local_trigger import TriggerServer
from tools.twilio_sandbox import TwilioSandbox, seed_sample_conversation

ROOT = Path(__file__).resolve().parent.parent
LOCAL_DEFAULTS = {
    "GOOGLE_CLOUD_PROJECT": "demo-frontline",
    "TWILIO_AUTH_TOKEN": "local-dev-token",
    "TWILIO_ACCOUNT_SID": "AC" + "0" * 32,
}


def _start_sandbox(port: int) -> tuple[TwilioSandbox | None, str]:
    """The Twilio sandbox with the sample conversation, and the URL REST calls go to (the sandbox,
    unless TWILIO_API_BASE_URL already names somewhere else)."""
    named = os.environ.get("TWILIO_API_BASE_URL", "").strip()
    if named:
        return None, named
    sandbox = TwilioSandbox(os.environ["TWILIO_ACCOUNT_SID"], os.environ["TWILIO_AUTH_TOKEN"], port=port,
                            log=lambda line: print(f"[twilio sandbox] {line}", flush=True)).start()
    seed_sample_conversation(sandbox)
    os.environ["TWILIO_API_BASE_URL"] = sandbox.base_url
    # The sandbox knows the account SID and auth token only: REST with an API key would be refused.
    os.environ.pop("TWILIO_API_KEY", None)
    os.environ.pop("TWILIO_API_SECRET", None)
    return sandbox, sandbox.base_url


def _stop_on_signal(_signum: int, _frame: object) -> None:
    # SIGTERM (an IDE's stop button, `timeout`, systemd) and SIGHUP (terminal closed) clean up as Ctrl-C
    # does: the function runs in its own session and would otherwise outlive this process.
    raise KeyboardInterrupt


def main(argv: list[str] | None = None) -> int:
    signal.signal(signal.SIGTERM, _stop_on_signal)
    signal.signal(signal.SIGHUP, _stop_on_signal)
    parser = argparse.ArgumentParser(prog="python -m tools.run_local", description=__doc__.splitlines()[0])
    parser.add_argument("--port", type=int, default=int(os.environ.get("PORT", "8080")), help="the function's port (default $PORT or 8080)")
    parser.add_argument("--sandbox-port", type=int, default=None, help="the Twilio sandbox's port (default: the function's + 1)")
    args = parser.parse_args(argv)
    port = args.port
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
    server = trigger = sandbox = None
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
        sandbox, twilio_url = _start_sandbox(args.sandbox_port if args.sandbox_port is not None else port + 1)
        print(f"Twilio REST calls go to {twilio_url}" + (" (the sandbox: one sample conversation, Ada texting in)" if sandbox else ""))
        server = subprocess.Popen(
            [sys.executable, "-m", "functions_framework", "--target", "frontline_webhook", "--source", str(ROOT / "main.py"),
             "--host", "127.0.0.1", "--port", str(port)],
            cwd=ROOT, start_new_session=True,
        )
        url = f"http://127.0.0.1:{port}/"
        print(f"\nServing frontline_webhook on {url}  (Ctrl-C stops everything)\nTry it, in another terminal:\n")
        local_token = os.environ["TWILIO_AUTH_TOKEN"] == LOCAL_DEFAULTS["TWILIO_AUTH_TOKEN"]
        token_arg = LOCAL_DEFAULTS["TWILIO_AUTH_TOKEN"] if local_token else '"$TWILIO_AUTH_TOKEN"'
        from tools.send_sample import example_commands

        for command in example_commands(url, token_arg, twilio_url):
            print(f"  {command}")
        print("\n  Opt-out: the first command with --event onMessageAdded --body STOP records Ada's STOP; --event onMessageAdd"
              "\n  (her worker writing) is then refused; --event onMessageAdded --body START undoes it."
              "\n  Every event and option: .venv/bin/python -m tools.send_sample --help\n", flush=True)
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
        if sandbox is not None:
            sandbox.stop()
        emulator.stop()
        print("stopped the functions, the Twilio sandbox and the Firestore emulator")


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
