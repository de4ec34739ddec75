"""The same work costs more CPU after the thread has been idle: measured, so the read targets can be read.

`python -m bench.idle_penalty [--rounds N]` (about a minute; not part of `make bench`).

A webhook that misses the cache waits for Firestore, and while it waits its worker is idle. On
this machine (2 shared vCPUs) code that runs after such a pause runs slower: the CPU time of the
same request grows with the pause before it. This measures that in one process, without
gunicorn or sockets: functions-framework's Flask app (the one the function is served by) answers
a cache-hit `onConversationAdd` back to back, then with a 1 ms and a 3 ms `time.sleep` between
requests (a miss waits 1-5 ms for the emulator), and the calling thread's CPU per request is
`time.thread_time` (the pause itself costs none). The same for the bare GetDocument of
`store.reader`. Rounds alternate the pauses, so a change in the machine's load hits each alike.
"""

from __future__ import annotations

import argparse
import os
import statistics
import time
from collections.abc import Callable
from urllib.parse import urlencode

from bench import common
from bench.common import IndexReads
from bench.customers import customer_address, seed_base
from bench.signed import conversation_add_form, signature

PROJECT = "demo-bench"
PAUSES_MS = (0.0, 1.0, 3.0)
REQUESTS = 1500  # per pause and round


def _cpu_ms_per_call(call: Callable[[int], None], count: int, pause_s: float) -> float:
    started = time.thread_time()
    for i in range(count):
        call(i)
        if pause_s:
            time.sleep(pause_s)
    return (time.thread_time() - started) / count * 1000


def _webhook_call(app) -> Callable[[int], None]:  # noqa: ANN001 - functions-framework's Flask app
    client = app.test_client()
    signed = []
    for n in range(100):
        form = conversation_add_form(customer_address(n)[0])
        signed.append((urlencode(form), signature("http://localhost/", form)))

    def call(i: int) -> None:
        body, sig = signed[i % len(signed)]
        response = client.post("/", data=body, headers={"Content-Type": "application/x-www-form-urlencoded", "X-Twilio-Signature": sig})
        if response.status_code != 200 or "friendly_name" not in (response.get_json() or {}):
            raise RuntimeError(f"unexpected answer {response.status_code} {response.data[:200]!r}")
    return call


def _read_call(emulator_host: str) -> IndexReads:
    from store.addresses import address_key

    return IndexReads.open(PROJECT, emulator_host, [address_key(customer_address(n)[0]) or "" for n in range(100)])


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m bench.idle_penalty", description=__doc__.splitlines()[0])
    parser.add_argument("--rounds", type=int, default=3)
    args = parser.parse_args(argv)
    os.environ.update({"GOOGLE_CLOUD_PROJECT": PROJECT, "TWILIO_AUTH_TOKEN": common.AUTH_TOKEN, "TWILIO_ACCOUNT_SID": common.ACCOUNT_SID,
                       "FUNCTION_TARGET": "frontline_webhook", "PROFILE_CACHE_TTL_S": "60", "LOG_LEVEL": "WARNING"})
    from tools.emulator import Emulator, free_port

    common.WORK_DIR.mkdir(parents=True, exist_ok=True)
    emulator = Emulator(PROJECT, log_path=common.WORK_DIR / "emulator-idle.log", host_port=f"127.0.0.1:{free_port()}")
    emulator.start()
    try:
        os.environ["FIRESTORE_EMULATOR_HOST"] = emulator.host_port
        import functions_framework

        from store.client import firestore_client

        seed_base(firestore_client(PROJECT))
        calls = {"cache-hit onConversationAdd (Flask app, in process)": _webhook_call(
                     functions_framework.create_app("frontline_webhook", str(common.ROOT / "main.py"))),
                 "bare GetDocument (store.reader)": _read_call(emulator.host_port)}
        for call in calls.values():  # warm both, and the emulator's JIT
            _cpu_ms_per_call(call, 3000, 0)
        samples: dict[tuple[str, float], list[float]] = {(name, pause): [] for name in calls for pause in PAUSES_MS}
        for _ in range(args.rounds):
            for name, call in calls.items():
                for pause in PAUSES_MS:
                    samples[name, pause].append(_cpu_ms_per_call(call, REQUESTS, pause / 1000))
    finally:
        emulator.stop()
    print(f"\nCPU ms per call of the calling thread, by the idle pause before each call; {args.rounds} rounds of {REQUESTS}, "
          f"median (min-max); load average {os.getloadavg()[0]:.2f}")
    print(f"{'call':<54}" + "".join(f"{f'pause {pause:g} ms':>22}" for pause in PAUSES_MS))
    for name in calls:
        cells = [samples[name, pause] for pause in PAUSES_MS]
        print(f"{name:<54}" + "".join(f"{f'{statistics.median(c):.3f} ({min(c):.2f}-{max(c):.2f})':>22}" for c in cells))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
