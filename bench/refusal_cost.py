"""What refusing a stranger's request costs the server: CPU time of the whole WSGI call, in process.

    .venv/bin/python -m bench.refusal_cost [--runs 3] [--requests 200]

Not part of `make test` or `make bench`; asserts nothing. Each request goes through
functions-framework's real app (`create_app`), from the WSGI call to the last byte of the answer,
including functions-framework's after-request hook: the work a gunicorn thread does between
parsing the request head and writing the answer (network and header parsing not included).
It needs no Firestore and no Twilio: nothing here is signed, so nothing reaches a handler.

Scenarios (unsigned POSTs to /):
- normal: an onConversationAdd of ~200 bytes (refused 403);
- 50k fields: 50,000 empty fields `k=&k=&…` (149,999 bytes, under the default MAX_BODY_BYTES);
- 53k fields: 53,222 empty fields padded to 256 KiB (the review's body: over the new default);
- 18k distinct fields: 18,000 different names `k00000=&k00001=&…` (125,999 bytes): every name is
  sorted and signed separately (identical names collapse in the signature's own set()).
Prints, per scenario, the median per run and the spread (min–max of the run medians) in ms.
"""

from __future__ import annotations

import argparse
import io
import os
import statistics
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
os.environ.setdefault("TWILIO_ACCOUNT_SID", "AC" + "0" * 32)
os.environ.setdefault("TWILIO_AUTH_TOKEN", "0" * 32)
os.environ.setdefault("GOOGLE_CLOUD_PROJECT", "demo-bench")
os.environ.setdefault("LOG_LEVEL", "ERROR")  # the log lines are not what is measured

SCENARIOS = {
    "normal (403)": b"EventType=onConversationAdd&MessagingBinding.Address=%2B15558675310&MessagingBinding.ProxyAddress=%2B15005550006"
                    b"&ChatServiceSid=IS00000000000000000000000000000000&State=active",
    "50k empty fields": b"&".join([b"k="] * 50_000),
    "53k fields, 256 KiB": b"&".join([b"k="] * 53_222).ljust(262_144, b"p"),
    "18k distinct fields": b"&".join(b"k%05d=" % n for n in range(18_000)),
}


def _environ(body: bytes) -> dict:
    return {"REQUEST_METHOD": "POST", "PATH_INFO": "/", "QUERY_STRING": "", "SERVER_NAME": "127.0.0.1", "SERVER_PORT": "8080",
            "SERVER_PROTOCOL": "HTTP/1.1", "HTTP_HOST": "127.0.0.1:8080", "CONTENT_TYPE": "application/x-www-form-urlencoded",
            "CONTENT_LENGTH": str(len(body)), "wsgi.input": io.BytesIO(body), "wsgi.url_scheme": "http", "wsgi.errors": sys.stderr,
            "wsgi.multithread": True, "wsgi.multiprocess": False, "wsgi.run_once": False, "wsgi.version": (1, 0)}


def _one(app, body: bytes) -> tuple[float, str]:
    status = []
    started = time.perf_counter()
    answer = app(_environ(body), lambda s, headers, exc_info=None: status.append(s))
    for _ in answer:
        pass
    if hasattr(answer, "close"):
        answer.close()
    return (time.perf_counter() - started) * 1000, status[0].split()[0]


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m bench.refusal_cost", description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=3)
    parser.add_argument("--requests", type=int, default=200)
    args = parser.parse_args(argv)
    import functions_framework

    app = functions_framework.create_app(target="frontline_webhook", source=str(ROOT / "main.py"))
    print(f"{'scenario':<22} {'status':>6} {'median ms per run':>28} {'spread ms':>14}")
    for name, body in SCENARIOS.items():
        for _ in range(5):  # warm-up
            _one(app, body)
        medians, statuses = [], set()
        for _ in range(args.runs):
            times = []
            for _ in range(args.requests if len(body) < 10_000 else max(args.requests // 10, 10)):
                elapsed, status = _one(app, body)
                times.append(elapsed)
                statuses.add(status)
            medians.append(statistics.median(times))
        shown = ", ".join(f"{m:.3f}" for m in medians)
        print(f"{name:<22} {'/'.join(sorted(statuses)):>6} {shown:>28} {min(medians):.3f}–{max(medians):.3f}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
