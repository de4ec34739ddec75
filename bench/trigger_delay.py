"""How soon the index follows a profile written by anyone: a plain write to the emulator → customer_written → index entry.

    .venv/bin/python -m bench.trigger_delay [--runs 40]

One freshly started emulator delivering events to `customer_written` served by functions-framework,
as `make run` wires it. Each run writes a new profile with the plain google-cloud-firestore client (no
index entry, no sort_name, no worker) and polls its index entry every 5 ms; the delay is from the
write's return to the first read that finds the entry (so it includes up to 5 ms of polling). A
number change of an existing profile is timed the same way (the old entry gone, the new one there).
The function's own time per event (`duration_ms` of its log lines) is shown beside, to tell the
emulator's delivery from the function's work.
Not run by `make test`; the numbers depend on the machine and its load.
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from tools.emulator import Emulator, free_port  # noqa: E402
from tools.local_trigger import TriggerServer  # noqa: E402

PROJECT = "demo-bench-trigger"
POLL_S = 0.005


def _until(check) -> float:
    started = time.perf_counter()
    while not check():
        if time.perf_counter() - started > 30:
            raise RuntimeError("no convergence within 30 s")
        time.sleep(POLL_S)
    return time.perf_counter() - started


def _summary(name: str, delays: list[float]) -> str:
    ms = sorted(d * 1000 for d in delays)
    p90 = ms[min(len(ms) - 1, round(0.9 * (len(ms) - 1)))]
    return (f"{name:<40} runs {len(ms):>3}  median {statistics.median(ms):6.1f} ms  p90 {p90:6.1f} ms  "
            f"min {ms[0]:6.1f} ms  max {ms[-1]:6.1f} ms")


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=40)
    runs = parser.parse_args().runs
    emulator = Emulator(PROJECT, host_port=f"127.0.0.1:{free_port()}", functions_port=free_port())
    with emulator:
        if not emulator.delivers_events:
            print("needs the Firestore emulator's JAR started with java", file=sys.stderr)
            return 1
        os.environ.update(FIRESTORE_EMULATOR_HOST=emulator.host_port, GOOGLE_CLOUD_PROJECT=PROJECT)
        log = ROOT / ".local" / "bench-trigger.log"
        log.parent.mkdir(exist_ok=True)
        log.write_bytes(b"")
        server = TriggerServer(emulator.functions_port, env={**os.environ, "PYTHONUNBUFFERED": "1"}, log_path=log).start()
        try:
            emulator.add_trigger("customers")
            from google.cloud import firestore

            db = firestore.Client(project=PROJECT)
            customers, index = db.collection("customers"), db.collection("customer_addresses")
            customers.document("warm-up").set({"display_name": "Warm Up", "channels": [{"type": "sms", "value": "+15550190000"}]})
            cold = _until(lambda: index.document("+15550190000").get().exists)
            created, moved = [], []
            for n in range(1, runs + 1):
                number, other = f"+1555019{n:04d}", f"+1555029{n:04d}"
                customers.document(f"c{n}").set({"display_name": f"Customer {n}", "channels": [{"type": "sms", "value": number}]})
                created.append(_until(lambda number=number: index.document(number).get().exists))
                customers.document(f"c{n}").update({"channels": [{"type": "sms", "value": other}]})
                moved.append(_until(lambda number=number, other=other: index.document(other).get().exists
                                    and not index.document(number).get().exists))
        finally:
            server.stop()
    print(f"first event after start (imports, Firestore client): {cold * 1000:.0f} ms")
    print(_summary("new profile", created))
    print(_summary("number moved", moved))
    lines = [json.loads(line) for line in log.read_text().splitlines() if line.startswith("{")]
    for message in ("customer converged", "customer already in step"):
        print(_summary(f"  function: {message}", [line["duration_ms"] / 1000 for line in lines if line["message"] == message][1:]))
    return 0


if __name__ == "__main__":
    sys.exit(main())
