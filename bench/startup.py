"""Phase 1: the import of `main` and the cold start of a fresh server, uncapped."""

from __future__ import annotations

import json
import os
import re
import statistics
import subprocess
import sys
import time
from typing import Any

from bench.common import ROOT, WORK_DIR, BenchError, Plan, log
from bench.server import Server, tree_cpu_s
from bench.signed import conversation_add_form, post

# --- 1. import time and cold start ------------------------------------------------------------

IMPORT_PROBE = """
import json, sys, time
import flask  # functions-framework imports flask before it loads main
import main
heavy = ["google.cloud.firestore", "grpc", "twilio.rest", "twilio.request_validator", "phonenumbers", "requests"]
print(json.dumps({name: name in sys.modules for name in heavy}))
"""

# google-cloud-firestore before main, which imports it on purpose (store.client.load_library): each gets its own line.
PLATFORM_PROBE = "import gunicorn.app.wsgiapp, gunicorn.workers.gthread, functions_framework; from google.cloud import firestore; import main, twilio.rest, phonenumbers"
LIBRARY = "google.cloud.firestore"  # what main preloads before the fork; measured apart from main's own code


def parse_importtime(stderr: str) -> list[tuple[str, int, int, int]]:
    """(module, depth, self µs, cumulative µs) per line of `python -X importtime`."""
    rows = []
    for line in stderr.splitlines():
        match = re.match(r"import time:\s+(\d+) \|\s+(\d+) \|( *)(\S+)", line)
        if match:
            rows.append((match.group(4), len(match.group(3)) // 2, int(match.group(1)), int(match.group(2))))
    return rows


def import_subtree(rows: list[tuple[str, int, int, int]], root: str) -> list[tuple[str, int, int, int]]:
    """The lines `root` imported (importtime prints a module's imports before the module itself)."""
    end = next(i for i, row in enumerate(rows) if row[0] == root and row[1] == 0)
    start = end
    while start > 0 and rows[start - 1][1] > 0:
        start -= 1
    return rows[start:end + 1]


def measure_imports(plan: Plan, env: dict[str, str]) -> dict[str, Any]:
    log(f"import of main: {plan.import_runs} fresh interpreters, flask imported first")
    runs = []
    for attempt in range(plan.import_runs + 1):
        done = subprocess.run([sys.executable, "-X", "importtime", "-c", IMPORT_PROBE], cwd=ROOT, env=env,
                              capture_output=True, text=True, check=True)
        if attempt == 0:
            continue  # writes the bytecode cache; not measured
        rows = parse_importtime(done.stderr)
        main_us = next(row[3] for row in rows if row[0] == "main" and row[1] == 0)
        library_us = next((row[3] for row in import_subtree(rows, "main") if row[0] == LIBRARY), 0)
        runs.append((main_us - library_us, rows, json.loads(done.stdout.strip().splitlines()[-1]), main_us, library_us))
    runs.sort(key=lambda run: run[0])
    median_us, rows, present, with_library_us, library_us = runs[len(runs) // 2]
    subtree = import_subtree(rows, "main")
    top = sorted((row for row in subtree if row[0] != "main"), key=lambda row: -row[3])
    direct = [row for row in subtree if row[1] == 1]
    for _ in range(2):  # the first run may compile bytecode for what it imports; the second is measured
        platform_rows = parse_importtime(subprocess.run([sys.executable, "-X", "importtime", "-c", PLATFORM_PROBE], cwd=ROOT,
                                                        env=env, capture_output=True, text=True, check=True).stderr)
    platform_ms = {name: round(next(row[3] for row in platform_rows if row[0] == name and row[1] == 0) / 1000, 1)
                   for name in ("gunicorn.app.wsgiapp", "functions_framework", "main", "google.cloud.firestore", "twilio.rest", "phonenumbers")
                   if any(row[0] == name and row[1] == 0 for row in platform_rows)}
    return {
        "main_ms": round(median_us / 1000, 1),  # our own modules: main's import minus the library it preloads
        "runs_ms": sorted(round(run[0] / 1000, 1) for run in runs),
        "main_with_library_ms": round(with_library_us / 1000, 1),
        "library_ms": round(library_us / 1000, 1),
        "flask_imported_first": True,
        "imported_with_main": present,
        "direct_imports": [{"module": m, "cumulative_ms": round(c / 1000, 2)} for m, _, _, c in sorted(direct, key=lambda r: -r[3])],
        "top_modules": [{"module": m, "depth": d, "self_ms": round(s / 1000, 2), "cumulative_ms": round(c / 1000, 2)} for m, d, s, c in top[:12]],
        "one_process_ms": platform_ms,
    }


def measure_cold_start(plan: Plan, env: dict[str, str], known: tuple[str, str]) -> dict[str, Any]:
    address, name = known
    log(f"cold start: {plan.cold_runs} fresh servers to the first 200 of a signed onConversationAdd (+1 unmeasured)")
    total, listen, cpu, loads = [], [], [], []
    for attempt in range(plan.cold_runs + 1):
        load = os.getloadavg()[0]
        server = Server(env, WORK_DIR / "server-cold.log").start()
        try:
            listening, answered, status, body = server.first_answer("/", conversation_add_form(address))
            # CPU time is what the start costs whatever else the machine is doing; wall time is not.
            spent = tree_cpu_s(server.process.pid) if server.process else float("nan")
        finally:
            server.stop()
        if status != 200 or not isinstance(body, dict) or body.get("friendly_name") != name:
            raise BenchError(f"cold start answered {status} {body!r}")
        if attempt:
            total.append(answered)
            listen.append(listening)
            cpu.append(spent)
            loads.append(load)
    log(f"cold start split: {plan.split_runs} servers, boot to the first (unsigned, refused) answer, then the first signed one")
    boot, first_request = [], []
    for _ in range(plan.split_runs):
        server = Server(env, WORK_DIR / "server-cold.log").start()
        try:
            _, booted, status, _ = server.first_answer("/", None)
            if status != 403:
                raise BenchError(f"unsigned probe answered {status}")
            time.sleep(0.5)  # let any background start-up work finish: this isolates the first request's own cost
            started = time.perf_counter()
            status, body = post(server.port, "/", conversation_add_form(address))
            first_request.append(time.perf_counter() - started)
            boot.append(booted)
        finally:
            server.stop()
        if status != 200 or body.get("friendly_name") != name:
            raise BenchError(f"first request answered {status} {body!r}")
    return {
        "runs_s": [round(t, 3) for t in total],
        "median_s": round(statistics.median(total), 3),
        "cpu_runs_s": [round(t, 2) for t in cpu],
        "cpu_median_s": round(statistics.median(cpu), 2),
        "loadavg_runs": [round(x, 2) for x in loads],
        "listening_median_s": round(statistics.median(listen), 3),
        "boot_to_first_answer_median_s": round(statistics.median(boot), 3),
        "first_request_after_boot_median_ms": round(statistics.median(first_request) * 1000, 1),
        "first_request_after_boot_runs_ms": [round(t * 1000, 1) for t in first_request],
    }


