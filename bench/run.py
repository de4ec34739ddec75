"""`make bench`: cold start, warm latency, overhead and growth of frontline_webhook, measured here.

Everything runs on this machine, on loopback: the official Firestore emulator, the Twilio
stand-in from tests/ (in this process), and the function served as Cloud Functions serves it:
functions-framework's Flask app under gunicorn, one worker, 8 threads. Load comes from wrk
(bench/README.md says why). Prints a table, writes bench/results.json and bench/latency.png.
Targets are reported PASS/FAIL, never asserted: the numbers belong to this machine and to
whatever else it was doing at the time (the load average is recorded with every run).

    python -m bench.run            # the full run (under ~5 minutes on 2 cores)
    python -m bench.run --quick    # smaller and shorter, for trying changes
    python -m bench.run --profile  # also py-spy the server under 16 clients
"""

from __future__ import annotations

import argparse
import http.client
import json
import os
import platform
import random
import re
import shutil
import signal
import statistics
import subprocess
import sys
import threading
import time
from collections.abc import Callable, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from datetime import datetime, timezone
from pathlib import Path
from typing import Any
from urllib.parse import urlencode

ROOT = Path(__file__).resolve().parent.parent
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

BENCH_DIR = ROOT / "bench"
WORK_DIR = ROOT / ".local" / "bench"
RESULTS_JSON = BENCH_DIR / "results.json"
LATENCY_PNG = BENCH_DIR / "latency.png"
WRK_SCRIPT = BENCH_DIR / "wrk_signed.lua"

PROJECT = "demo-bench"
ACCOUNT_SID = "AC" + "be" * 16
AUTH_TOKEN = "bench-auth-token-0123456789abcdef"
GUNICORN_THREADS = 8  # what functions-framework picks on 2 cores: cpu_count * 4
WORKERS = ("alice@example.com", "bob@example.com")
BASE_CUSTOMERS = 100
LIST_PAGE_SIZE = 30


@dataclass(frozen=True)
class Plan:
    sizes: tuple[int, ...] = (100, 10_000, 100_000)
    import_runs: int = 7
    cold_runs: int = 7
    split_runs: int = 5
    warm_seconds: int = 6
    warm_max: int = 15_000  # the count bound; far above what the server does here in warm_seconds
    bare_samples: int = 2000


QUICK = Plan(sizes=(100, 1_000, 5_000), import_runs=3, cold_runs=5, split_runs=2, warm_seconds=3, warm_max=6_000, bare_samples=600)

TARGETS = {
    "cold_start_s": 0.40,
    "import_main_ms": 60.0,
    "overhead_ms": 1.5,
    "p99_16_ms": 25.0,
    "growth_ratio": 1.3,
    "seq_p50_100k_ms": 3.0,
    "rps_16_100k": 500.0,
}


class BenchError(RuntimeError):
    pass


def log(message: str) -> None:
    print(f"[bench {time.strftime('%H:%M:%S')}] {message}", flush=True)


# --- the machine ----------------------------------------------------------------------------

def machine() -> dict[str, Any]:
    cpuinfo = Path("/proc/cpuinfo").read_text() if Path("/proc/cpuinfo").exists() else ""
    meminfo = Path("/proc/meminfo").read_text() if Path("/proc/meminfo").exists() else ""
    model = re.search(r"^model name\s*:\s*(.+)$", cpuinfo, re.M)
    mhz = re.search(r"^cpu MHz\s*:\s*(.+)$", cpuinfo, re.M)
    mem = re.search(r"^MemTotal:\s*(\d+) kB", meminfo, re.M)
    from importlib.metadata import version

    packages = {name: version(name) for name in ("functions-framework", "gunicorn", "flask", "google-cloud-firestore", "grpcio", "twilio")}
    wrk = subprocess.run(["wrk", "--version"], capture_output=True, text=True).stdout.splitlines()[:1]
    return {
        "nproc": os.cpu_count(),
        "cpu_model": model.group(1).strip() if model else platform.processor(),
        "cpu_mhz": float(mhz.group(1)) if mhz else None,
        "memory_gib": round(int(mem.group(1)) / 1024 / 1024, 1) if mem else None,
        "python": platform.python_version(),
        "kernel": platform.release(),
        "packages": packages,
        "wrk": wrk[0] if wrk else None,
        "loadavg_at_start": os.getloadavg(),
    }


def ensure_wrk() -> str:
    """wrk from Debian: installed here when missing and we may (root with apt-get), else a clear stop."""
    found = shutil.which("wrk")
    if found:
        return found
    if os.geteuid() == 0 and shutil.which("apt-get"):
        log("wrk is missing: apt-get install -y wrk")
        env = {**os.environ, "DEBIAN_FRONTEND": "noninteractive"}
        if subprocess.run(["apt-get", "install", "-y", "-qq", "wrk"], env=env).returncode != 0:
            subprocess.run(["apt-get", "update", "-qq"], env=env, check=False)
            subprocess.run(["apt-get", "install", "-y", "-qq", "wrk"], env=env, check=False)
        found = shutil.which("wrk")
    if not found:
        raise BenchError("wrk is needed for the load: `sudo apt-get install wrk` (Debian/Ubuntu) or `brew install wrk`")
    return found


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


# --- signed requests ------------------------------------------------------------------------

def signature(url: str, form: dict[str, str]) -> str:
    from twilio.request_validator import RequestValidator

    return RequestValidator(AUTH_TOKEN).compute_signature(url, form)


def conversation_add_form(address: str | None) -> dict[str, str]:
    """A pre-event as Twilio sends it; address None: a conversation created over REST, no binding yet."""
    if address is None:
        return {key: value for key, value in conversation_add_form("").items() if not key.startswith("MessagingBinding.")}
    return {
        "EventType": "onConversationAdd", "AccountSid": ACCOUNT_SID, "ChatServiceSid": "IS" + "0" * 32,
        "MessagingServiceSid": "MG" + "0" * 32, "MessagingBinding.Address": address,
        "MessagingBinding.ProxyAddress": "+15005550006", "MessagingBinding.Type": "sms", "MessageBody": "Hello!",
        "Attributes": "{}", "State": "active", "Source": "SMS", "RetryCount": "0",
    }


def participant_added_form(conversation_sid: str, participant_sid: str, address: str) -> dict[str, str]:
    return {
        "EventType": "onParticipantAdded", "AccountSid": ACCOUNT_SID, "ChatServiceSid": "IS" + "0" * 32,
        "ConversationSid": conversation_sid, "ParticipantSid": participant_sid, "MessagingBinding.Address": address,
        "MessagingBinding.ProxyAddress": "+15005550006", "MessagingBinding.Type": "sms", "Attributes": "{}",
        "RoleSid": "RL" + "0" * 32, "DateCreated": "2026-11-26T12:00:00.000Z", "Source": "SMS", "RetryCount": "0",
    }


def customers_list_form(worker: str) -> dict[str, str]:
    return {"Location": "GetCustomersList", "Worker": worker, "PageSize": str(LIST_PAGE_SIZE)}


def post(port: int, path: str, form: dict[str, str], timeout: float = 10.0) -> tuple[int, Any]:
    body = urlencode(form)
    connection = http.client.HTTPConnection("127.0.0.1", port, timeout=timeout)
    try:
        connection.request("POST", path, body, {"Content-Type": "application/x-www-form-urlencoded",
                                                "X-Twilio-Signature": signature(f"http://127.0.0.1:{port}{path}", form)})
        response = connection.getresponse()
        data = response.read()
    finally:
        connection.close()
    try:
        return response.status, json.loads(data)
    except ValueError:
        return response.status, data.decode(errors="replace")


def write_requests(path: Path, port: int, requests: Sequence[tuple[str, dict[str, str]]]) -> Path:
    """One pre-signed request a line, for wrk_signed.lua: '<path> <signature> <body>'."""
    with open(path, "w") as out:
        for url_path, form in requests:
            out.write(f"{url_path} {signature(f'http://127.0.0.1:{port}{url_path}', form)} {urlencode(form)}\n")
    return path


# --- customers --------------------------------------------------------------------------------

def base_profile(n: int) -> dict[str, Any]:
    return {
        "display_name": f"Base Customer {n:03d}",
        "avatar": f"https://avatars.example.com/base-{n}.png",
        "channels": [{"type": "sms", "value": f"+1555{n:07d}"}],
        "worker": WORKERS[0] if n < 60 else WORKERS[1],
    }


def bulk_profile(n: int) -> dict[str, Any]:
    return {
        "display_name": f"Customer {n:06d}",
        "avatar": f"https://avatars.example.com/{n}.png",
        "channels": [{"type": "sms", "value": f"+1202{n:07d}"}],
        "worker": f"worker-{n % 50}@example.com",
    }


def customer_address(n: int) -> tuple[str, str]:
    """(address, display_name) of customer number n, as loaded by seed_base / load_bulk."""
    profile = base_profile(n) if n < BASE_CUSTOMERS else bulk_profile(n)
    return profile["channels"][0]["value"], profile["display_name"]


def unknown_address(n: int) -> str:
    return f"+1303{n:07d}"


def seed_base(db: Any) -> None:
    """The first customers go through the store's own write path (one transaction each)."""
    from store.customers import CustomerStore

    store = CustomerStore(db, "customers", "US")
    with ThreadPoolExecutor(max_workers=4) as pool:
        list(pool.map(lambda n: store.upsert(f"cust-{n:03d}", base_profile(n)), range(BASE_CUSTOMERS)))


def load_bulk(db: Any, start: int, stop: int) -> float:
    """Customers [start, stop): each profile and its index entry, 500 writes a batch, 4 batches in flight.

    The documents are exactly what CustomerStore.upsert writes (validate_profile, card_of,
    index_keys), without its per-customer transaction, which would take minutes at 100,000.
    """
    from store.collections import ADDRESS_INDEX_COLLECTION
    from store.profiles import card_of, index_keys, validate_profile

    customers, index = db.collection("customers"), db.collection(ADDRESS_INDEX_COLLECTION)
    per_batch = 250  # a profile + its one index entry each: 500 writes, Firestore's limit per commit

    def commit(first: int) -> None:
        batch = db.batch()
        for n in range(first, min(first + per_batch, stop)):
            customer_id = f"bulk-{n:06d}"
            clean = validate_profile(bulk_profile(n), "US")
            batch.set(customers.document(customer_id), clean)
            for key in index_keys(clean, "US"):
                batch.set(index.document(key), card_of(customer_id, clean).as_index_document())
        batch.commit()

    started = time.perf_counter()
    with ThreadPoolExecutor(max_workers=4) as pool:
        list(pool.map(commit, range(start, stop, per_batch)))
    return time.perf_counter() - started


# --- statistics -------------------------------------------------------------------------------

def percentile(sorted_values: Sequence[float], p: float) -> float:
    if not sorted_values:
        return float("nan")
    rank = (len(sorted_values) - 1) * p / 100
    low = int(rank)
    high = min(low + 1, len(sorted_values) - 1)
    return sorted_values[low] + (sorted_values[high] - sorted_values[low]) * (rank - low)


PERCENTILE_GRID = [*range(0, 100), 99.5, 99.9, 99.99, 100]


def summary_ms(samples_s: Sequence[float]) -> dict[str, Any]:
    ordered = sorted(samples_s)
    return {
        "samples": len(ordered),
        "p50_ms": round(percentile(ordered, 50) * 1000, 3),
        "p95_ms": round(percentile(ordered, 95) * 1000, 3),
        "p99_ms": round(percentile(ordered, 99) * 1000, 3),
        "max_ms": round(ordered[-1] * 1000, 3),
        "percentiles": [[p, round(percentile(ordered, p) * 1e6)] for p in PERCENTILE_GRID],
    }


def grid_value(percentiles: Sequence[Sequence[float]], p: float) -> float:
    return next(value for point, value in percentiles if point == p)


# --- the server -------------------------------------------------------------------------------

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
    port: int = 0
    process: subprocess.Popen | None = None
    started_at: float = 0.0

    def start(self) -> Server:
        from tools.emulator import free_port

        self.port = free_port()
        log_file = open(self.log_path, "ab")
        self.started_at = time.perf_counter()
        self.process = subprocess.Popen(server_command(self.port, self.target, self.source), cwd=ROOT, env=self.env, stdout=log_file,
                                        stderr=subprocess.STDOUT, start_new_session=True)
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


# --- 1. import time and cold start ------------------------------------------------------------

IMPORT_PROBE = """
import json, sys, time
import flask  # functions-framework imports flask before it loads main
import main
heavy = ["google.cloud.firestore", "grpc", "twilio.rest", "twilio.request_validator", "phonenumbers", "requests"]
print(json.dumps({name: name in sys.modules for name in heavy}))
"""

PLATFORM_PROBE = "import gunicorn.app.wsgiapp, gunicorn.workers.gthread, functions_framework, main; from google.cloud import firestore; import twilio.rest, phonenumbers"


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
        runs.append((next(row[3] for row in rows if row[0] == "main" and row[1] == 0), rows, json.loads(done.stdout.strip().splitlines()[-1])))
    runs.sort(key=lambda run: run[0])
    median_us, rows, present = runs[len(runs) // 2]
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
        "main_ms": round(median_us / 1000, 1),
        "runs_ms": sorted(round(run[0] / 1000, 1) for run in runs),
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


# --- 2. warm latency with wrk -----------------------------------------------------------------

@dataclass
class Scenario:
    key: str
    label: str
    requests: Callable[[int], list[tuple[str, dict[str, str]]]]  # count -> (path, form) list
    check: Callable[[int, Any], str | None]  # (status, body) of a probe -> problem or None
    probe: Callable[[], tuple[str, dict[str, str]]]


@dataclass
class Warm:
    server: Server
    emulator_pid: int
    wrk: str
    plan: Plan
    rows: list[dict[str, Any]] = field(default_factory=list)

    def run(self, scenario: Scenario, customers: int, clients: int, seconds: int | None = None, record: bool = True,
            server: Server | None = None, count: int | None = None) -> dict[str, Any]:
        plan = self.plan
        seconds = seconds or plan.warm_seconds
        server = server or self.server
        path, form = scenario.probe()
        status, body = post(server.port, path, form)
        problem = scenario.check(status, body)
        if problem:
            raise BenchError(f"{scenario.label}: probe answered {status} {str(body)[:200]}: {problem}")
        count = count or (plan.warm_max if record else min(plan.warm_max, 3000))
        requests_file = write_requests(WORK_DIR / f"requests-{scenario.key}.txt", server.port, scenario.requests(count + clients))
        report_file = WORK_DIR / f"wrk-{scenario.key}-{clients}.json"
        report_file.unlink(missing_ok=True)
        env = {**os.environ, "BENCH_REQUESTS": str(requests_file), "BENCH_MAX": str(count), "BENCH_REPORT": str(report_file)}
        worker = server.worker_pid()
        load = os.getloadavg()[0]
        cpu_before = (tree_cpu_s(worker), tree_cpu_s(self.emulator_pid), time.process_time())
        done = subprocess.run([self.wrk, "-t1", f"-c{clients}", f"-d{seconds}s", "--timeout", "5s", "-s", str(WRK_SCRIPT),
                               f"http://127.0.0.1:{server.port}/"], env=env, capture_output=True, text=True, timeout=seconds + 60)
        cpu_after = (tree_cpu_s(worker), tree_cpu_s(self.emulator_pid), time.process_time())
        if done.returncode != 0 or not report_file.exists():
            raise BenchError(f"wrk failed ({done.returncode}): {done.stderr.strip()[-500:]}")
        report = json.loads(report_file.read_text())
        requests = report["requests"]
        duration = report["duration_us"] / 1e6
        percentiles = report["latency_us"]["percentiles"]
        non_2xx = sum(n for s, n in report["statuses"].items() if not 200 <= int(s) < 300)
        errors = sum(report["errors"][k] for k in ("connect", "read", "write", "timeout"))
        cpu = [after - before for before, after in zip(cpu_before, cpu_after)]
        row = {
            "scenario": scenario.key, "label": scenario.label, "customers": customers, "clients": clients,
            "requests": requests, "seconds": round(duration, 2), "rps": round(requests / duration, 1),
            "p50_ms": round(grid_value(percentiles, 50) / 1000, 3), "p95_ms": round(grid_value(percentiles, 95) / 1000, 3),
            "p99_ms": round(grid_value(percentiles, 99) / 1000, 3), "max_ms": round(report["latency_us"]["max"] / 1000, 3),
            "non_2xx": non_2xx, "socket_errors": errors, "statuses": report["statuses"],
            # wrk divides by its whole -d even when the count bound stopped it early: then req/s is a lower bound.
            "count_bound_hit": requests >= count,
            "cpu_per_request_ms": {"function": round(cpu[0] / max(requests, 1) * 1000, 3),
                                   "emulator": round(cpu[1] / max(requests, 1) * 1000, 3),
                                   "bench_process": round(cpu[2] / max(requests, 1) * 1000, 3)},
            "cores_busy": {"function": round(cpu[0] / duration, 2), "emulator": round(cpu[1] / duration, 2),
                           "bench_process": round(cpu[2] / duration, 2)},
            "loadavg_before": round(load, 2),
            "percentiles_us": percentiles,
        }
        if record:
            self.rows.append(row)
            log(f"  {scenario.label:<34} {customers:>7} customers {clients:>2} clients: {row['rps']:>7.1f} req/s  "
                f"p50 {row['p50_ms']:.2f}  p99 {row['p99_ms']:.2f} ms  non-2xx {non_2xx}  (function {row['cores_busy']['function']} cores, "
                f"emulator {row['cores_busy']['emulator']})")
        if record and requests >= count:
            log(f"  WARNING: the count bound ({count}) stopped {scenario.label} early: its req/s is a lower bound")
        if non_2xx or errors:
            log(f"  WARNING: {non_2xx} non-2xx answers, {errors} socket errors in {scenario.label}")
        return row


def bare_samples(db: Any, keys: Sequence[str], samples: int) -> tuple[list[float], list[float]]:
    """The webhook's one read, done directly with google-cloud-firestore in a loop (same client options).

    Every other sample goes through a ThreadPoolExecutor hop instead (submit, then wait on the
    future), as handlers/conversations.py did for every lookup: the difference is that hop's cost.
    Returns (direct, via the pool) latencies in seconds.
    """
    from store.collections import ADDRESS_INDEX_COLLECTION

    collection = db.collection(ADDRESS_INDEX_COLLECTION)

    def get(key: str) -> Any:
        return collection.document(key).get(timeout=2.5, retry=None)

    for key in keys[:200]:
        get(key)
    direct: list[float] = []
    pooled: list[float] = []
    with ThreadPoolExecutor(max_workers=4) as pool:
        for i in range(2 * samples):
            key = keys[(i // 2) % len(keys)]
            started = time.perf_counter()
            snapshot = get(key) if i % 2 == 0 else pool.submit(get, key).result(timeout=2.5)
            (direct if i % 2 == 0 else pooled).append(time.perf_counter() - started)
            if not snapshot.exists:
                raise BenchError(f"index entry {key} is missing")
    return direct, pooled


def bare_summary(direct: Sequence[float], pooled: Sequence[float]) -> dict[str, Any]:
    result = summary_ms(direct)
    via_pool = summary_ms(pooled)
    result["via_thread_pool"] = {k: via_pool[k] for k in ("p50_ms", "p95_ms", "p99_ms")}
    result["thread_pool_hop_p50_ms"] = round(via_pool["p50_ms"] - result["p50_ms"], 3)
    return result


def bare_lookup(db: Any, keys: Sequence[str], samples: int) -> dict[str, Any]:
    return bare_summary(*bare_samples(db, keys, samples))


def rpc_cost(db: Any, keys: Sequence[str], samples: int) -> dict[str, Any]:
    """Client CPU and wall time of one lookup as the store does it (DocumentReference.get, a
    server-streaming BatchGetDocuments call) against the unary GetDocument RPC that
    google-cloud-firestore has but uses for nothing public (reached here through its private
    `_firestore_api`, for this measurement only)."""
    from store.collections import ADDRESS_INDEX_COLLECTION

    collection = db.collection(ADDRESS_INDEX_COLLECTION)
    api = db._firestore_api
    paths = [collection.document(key)._document_path for key in keys]
    calls = {
        "document_get_stream": lambda i: collection.document(keys[i % len(keys)]).get(timeout=2.5, retry=None),
        "get_document_unary": lambda i: api.get_document(request={"name": paths[i % len(paths)]}, timeout=2.5),
    }
    result: dict[str, Any] = {}
    for name, call in calls.items():
        for i in range(100):
            call(i)
        cpu, wall = time.process_time(), time.perf_counter()
        for i in range(samples):
            call(i)
        result[name] = {"cpu_ms": round((time.process_time() - cpu) / samples * 1000, 3),
                        "wall_ms": round((time.perf_counter() - wall) / samples * 1000, 3)}
    return result


def sequential_overhead(warm: Warm, scenario: Scenario, db: Any, keys: Sequence[str], size: int,
                        rounds: int = 3) -> tuple[dict[str, Any], dict[str, Any], dict[str, Any]]:
    """Webhook p50 minus bare-lookup p50, measured in alternating rounds so that a change in
    the machine's load between the two measurements cannot pass for overhead.

    Returns (the webhook row of the median round, the bare-lookup summary of all rounds, overhead).
    """
    plan = warm.plan
    direct: list[float] = []
    pooled: list[float] = []
    measured = []
    for _ in range(rounds):
        round_direct, round_pooled = bare_samples(db, keys, max(plan.bare_samples // rounds, 200))
        direct += round_direct
        pooled += round_pooled
        row = warm.run(scenario, size, 1, seconds=max(2, plan.warm_seconds // 2), record=False, count=plan.warm_max)
        bare_p50 = round(percentile(sorted(round_direct), 50) * 1000, 3)
        measured.append((round(row["p50_ms"] - bare_p50, 3), row, bare_p50))
    measured.sort(key=lambda item: item[0])
    overhead_ms, row, _ = measured[len(measured) // 2]
    row["rounds"] = [{"webhook_p50_ms": r["p50_ms"], "bare_p50_ms": b, "overhead_ms": o, "loadavg_before": r["loadavg_before"]}
                     for o, r, b in measured]
    warm.rows.append(row)
    bare = {"customers": size, **bare_summary(direct, pooled)}
    overhead = {"customers": size, "webhook_p50_ms": row["p50_ms"], "bare_p50_ms": measured[len(measured) // 2][2],
                "overhead_ms": overhead_ms, "rounds": row["rounds"]}
    log(f"  {scenario.label:<34} {size:>7} customers  1 client: p50 {row['p50_ms']:.2f} ms, bare lookup p50 "
        f"{overhead['bare_p50_ms']:.2f} ms: overhead {overhead_ms:.2f} ms (median of {rounds} alternating rounds: "
        f"{', '.join(str(r['overhead_ms']) for r in row['rounds'])}); a thread-pool hop adds {bare['thread_pool_hop_p50_ms']} ms")
    return row, bare, overhead


def scenarios(standin: Any, customers: int, rng: random.Random) -> dict[str, Scenario]:
    from store.addresses import address_key

    known_numbers = list(range(customers))

    def known_requests(count: int) -> list[tuple[str, dict[str, str]]]:
        return [("/", conversation_add_form(customer_address(n)[0])) for n in rng.choices(known_numbers, k=count)]

    def unknown_requests(count: int) -> list[tuple[str, dict[str, str]]]:
        return [("/", conversation_add_form(unknown_address(n))) for n in rng.sample(range(10_000_000), count)]

    sequence = iter(range(10**9))

    def new_participant() -> tuple[str, dict[str, str]]:
        # A first delivery: the participant exists at Twilio without profile attributes, so the
        # function fetches it and writes them (two REST calls), as for every new customer conversation.
        n = next(sequence)
        conversation_sid, participant_sid = f"CH{n:032x}", f"MB{n:032x}"
        address = customer_address(rng.choice(known_numbers))[0]
        standin.add_participant(conversation_sid, participant_sid, address=address)
        return "/", participant_added_form(conversation_sid, participant_sid, address)

    def no_address_requests(count: int) -> list[tuple[str, dict[str, str]]]:
        return [("/", conversation_add_form(None))] * min(count, 1)

    def empty_check(status: int, body: Any) -> str | None:
        return None if status == 200 and body == {} else "expected 200 {}"

    def known_check(status: int, body: Any) -> str | None:
        return None if status == 200 and body.get("friendly_name", "").startswith(("Base Customer", "Customer")) and "avatar" in body.get("attributes", "") else "expected the profile name and avatar"

    def unknown_check(status: int, body: Any) -> str | None:
        return None if status == 200 and body.get("friendly_name", "").startswith("+1303") and "attributes" not in body else "expected the address as name"

    last_probe: dict[str, tuple[str, str]] = {}

    def participant_probe() -> tuple[str, dict[str, str]]:
        path, form = new_participant()
        last_probe["participant"] = (form["ConversationSid"], form["ParticipantSid"])
        return path, form

    def participant_check(status: int, body: Any) -> str | None:
        written = standin.attributes_of(*last_probe["participant"])
        return None if status == 200 and written.get("customer_id") else f"participant attributes not written: {written}"

    def list_check(status: int, body: Any) -> str | None:
        found = (body.get("objects") or {}).get("customers") if isinstance(body, dict) else None
        return None if status == 200 and found and len(found) == LIST_PAGE_SIZE else f"expected {LIST_PAGE_SIZE} customers"

    assert address_key(customer_address(0)[0]) == customer_address(0)[0]
    return {
        "platform_floor": Scenario("platform_floor", "floor: functions-framework, no-op fn", known_requests, empty_check,
                                   lambda: known_requests(1)[0]),
        "conv_add_no_address": Scenario("conv_add_no_address", "onConversationAdd, no address", no_address_requests,
                                        empty_check, lambda: no_address_requests(1)[0]),
        "conv_add_known": Scenario("conv_add_known", "onConversationAdd, known customer", known_requests, known_check,
                                   lambda: known_requests(1)[0]),
        "conv_add_unknown": Scenario("conv_add_unknown", "onConversationAdd, unknown address", unknown_requests, unknown_check,
                                     lambda: unknown_requests(1)[0]),
        "participant_added": Scenario("participant_added", "onParticipantAdded (fetch + update)",
                                      lambda count: [new_participant() for _ in range(count)], participant_check, participant_probe),
        "customers_list": Scenario("customers_list", f"GetCustomersList, PageSize={LIST_PAGE_SIZE}",
                                   lambda count: [("/crm", customers_list_form(WORKERS[0]))] * min(count, 1),
                                   list_check, lambda: ("/crm", customers_list_form(WORKERS[0]))),
    }


def overhead_breakdown(rows: list[dict[str, Any]], bare_rows: list[dict[str, Any]], size: int) -> dict[str, float]:
    """Where a sequential onConversationAdd's p50 goes: platform, our admission, the lookup."""
    def p50(scenario: str) -> float:
        return next(r["p50_ms"] for r in rows if r["scenario"] == scenario and r["customers"] == size and r["clients"] == 1)

    floor, no_address, known = p50("platform_floor"), p50("conv_add_no_address"), p50("conv_add_known")
    bare = next(b["p50_ms"] for b in bare_rows if b["customers"] == size)
    return {
        "customers": size,
        "platform_floor_ms": floor,  # HTTP on loopback, gunicorn, functions-framework, Flask: a no-op function
        "admission_routing_logging_ms": round(no_address - floor, 3),  # form, signature, routing, 2 log lines
        "lookup_in_function_ms": round(known - no_address, 3),  # address key, the get, the reply
        "bare_lookup_ms": bare,
    }


# --- profiling (optional) ---------------------------------------------------------------------

def profile_server(warm: Warm, scenario: Scenario, customers: int) -> dict[str, Any]:
    """py-spy on the gunicorn worker while wrk drives 16 clients; collapsed stacks kept in .local/bench."""
    spy = shutil.which("py-spy", path=str(Path(sys.executable).parent)) or shutil.which("py-spy")
    if not spy:
        return {"error": "py-spy is not installed (pip install -r requirements-bench.txt)"}
    out = WORK_DIR / f"profile-{scenario.key}.txt"
    out.unlink(missing_ok=True)
    worker = warm.server.worker_pid()
    seconds = max(3, warm.plan.warm_seconds)
    runner = threading.Thread(target=warm.run, args=(scenario, customers, 16),
                              kwargs={"record": False, "seconds": seconds + 3, "count": warm.plan.warm_max})
    runner.start()
    time.sleep(2)  # the signed requests are written and wrk is running before sampling starts
    subprocess.run([spy, "record", "-p", str(worker), "-d", str(seconds), "-r", "200", "-f", "raw", "-o", str(out),
                    "--nonblocking"], stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, timeout=seconds + 60)
    runner.join()
    if not out.exists():
        return {"error": "py-spy recorded nothing (ptrace not permitted?)"}
    inclusive: dict[str, int] = {}
    total = 0
    for line in out.read_text().splitlines():
        stack, _, count = line.rpartition(" ")
        if not stack:
            continue
        total += int(count)
        for frame in {re.sub(r":\d+\)$", ")", f) for f in stack.split(";")}:
            inclusive[frame] = inclusive.get(frame, 0) + int(count)
    ours = [(f, n) for f, n in inclusive.items() if re.search(r"\((main|handlers|store|web|runtime|gateways)[/.]", f)]
    top = sorted(ours, key=lambda item: -item[1])[:25]
    return {"file": str(out.relative_to(ROOT)), "samples": total,
            "top_own_frames": [{"frame": f, "share": round(n / total, 3)} for f, n in top]}


# --- report -----------------------------------------------------------------------------------

def verdict(value: float, limit: float, higher_is_better: bool = False) -> bool:
    return value >= limit if higher_is_better else value <= limit


def evaluate(results: dict[str, Any], plan: Plan) -> list[dict[str, Any]]:
    rows = results["warm"]
    largest, smallest = max(plan.sizes), min(plan.sizes)

    def warm(scenario: str, customers: int, clients: int) -> dict[str, Any]:
        return next(r for r in rows if r["scenario"] == scenario and r["customers"] == customers and r["clients"] == clients)

    overhead = {o["customers"]: o for o in results["overhead"]}
    imports = results["import"]
    deferred = not any(imports["imported_with_main"][m] for m in ("google.cloud.firestore", "grpc", "twilio.rest"))
    targets = [
        ("cold start, median of fresh processes", results["cold_start"]["median_s"], TARGETS["cold_start_s"], "s", False),
        ("import of main (flask already imported)", imports["main_ms"], TARGETS["import_main_ms"], "ms", False),
        ("  ...with Firestore + Twilio REST deferred", 1.0 if deferred else 0.0, 1.0, "yes=1", True),
        (f"onConversationAdd overhead p50, {smallest} customers", overhead[smallest]["overhead_ms"], TARGETS["overhead_ms"], "ms", False),
        (f"onConversationAdd overhead p50, {largest} customers", overhead[largest]["overhead_ms"], TARGETS["overhead_ms"], "ms", False),
        (f"onConversationAdd p99, 16 clients, {smallest} customers", warm("conv_add_known", smallest, 16)["p99_ms"], TARGETS["p99_16_ms"], "ms", False),
        (f"onConversationAdd p99, 16 clients, {largest} customers", warm("conv_add_known", largest, 16)["p99_ms"], TARGETS["p99_16_ms"], "ms", False),
        (f"lookup growth p50 {largest}/{smallest}", results["growth"]["ratio_p50"], TARGETS["growth_ratio"], "x", False),
        (f"onConversationAdd sequential p50, {largest} customers", warm("conv_add_known", largest, 1)["p50_ms"], TARGETS["seq_p50_100k_ms"], "ms", False),
        (f"onConversationAdd req/s, 16 clients, {largest} customers", warm("conv_add_known", largest, 16)["rps"], TARGETS["rps_16_100k"], "req/s", True),
    ]
    return [{"target": name, "value": value, "limit": limit, "unit": unit, "higher_is_better": higher,
             "pass": verdict(value, limit, higher)} for name, value, limit, unit, higher in targets]


def print_report(results: dict[str, Any]) -> None:
    m = results["machine"]
    print()
    print(f"Machine: {m['nproc']} CPUs, {m['cpu_model']}, {m['memory_gib']} GiB; Python {m['python']}; "
          f"load average at start {m['loadavg_at_start'][0]:.2f}, at end {results['loadavg_at_end'][0]:.2f}")
    imports = results["import"]
    print(f"\nImport of main, flask imported first: median {imports['main_ms']} ms over {len(imports['runs_ms'])} runs {imports['runs_ms']}")
    print("  imported with main: " + ", ".join(f"{k}={'yes' if v else 'no'}" for k, v in imports["imported_with_main"].items()))
    print("  top modules under main: " + ", ".join(f"{t['module']} {t['cumulative_ms']}" for t in imports["top_modules"][:8]))
    print("  in one process (cumulative ms): " + ", ".join(f"{k} {v}" for k, v in imports["one_process_ms"].items()))
    cold = results["cold_start"]
    print(f"\nCold start (process start -> first 200, known customer): median {cold['median_s']} s, runs {cold['runs_s']}")
    print(f"  CPU time of the server's processes by then: median {cold['cpu_median_s']} s (runs {cold['cpu_runs_s']}); "
          f"load average during the runs {cold['loadavg_runs']}")
    print(f"  port accepting after {cold['listening_median_s']} s; split runs: boot -> first answer {cold['boot_to_first_answer_median_s']} s, "
          f"then the first signed request {cold['first_request_after_boot_median_ms']} ms")
    print(f"\n{'scenario':<37}{'customers':>10}{'clients':>8}{'requests':>9}{'req/s':>8}{'p50 ms':>8}{'p95 ms':>8}{'p99 ms':>8}{'non-2xx':>8}{'fn CPU':>8}")
    for row in results["warm"]:
        print(f"{row['label']:<37}{row['customers']:>10}{row['clients']:>8}{row['requests']:>9}{row['rps']:>8.0f}"
              f"{row['p50_ms']:>8.2f}{row['p95_ms']:>8.2f}{row['p99_ms']:>8.2f}{row['non_2xx']:>8}{row['cpu_per_request_ms']['function']:>8.2f}")
    for bare in results["bare_lookup"]:
        print(f"{'bare lookup (direct document get)':<37}{bare['customers']:>10}{1:>8}{bare['samples']:>9}{'':>8}"
              f"{bare['p50_ms']:>8.2f}{bare['p95_ms']:>8.2f}{bare['p99_ms']:>8.2f}")
    b = results["overhead_breakdown"]
    print(f"Sequential p50 at {b['customers']} customers, where it goes: platform floor {b['platform_floor_ms']:.2f} ms "
          f"(no-op function) + our admission/routing/logging {b['admission_routing_logging_ms']:.2f} ms + "
          f"lookup in the function {b['lookup_in_function_ms']:.2f} ms (bare lookup {b['bare_lookup_ms']:.2f} ms)")
    rpc = results["rpc_cost"]
    print(f"One lookup's client cost: DocumentReference.get (streaming BatchGetDocuments) {rpc['document_get_stream']['cpu_ms']} ms CPU, "
          f"{rpc['document_get_stream']['wall_ms']} ms wall; unary GetDocument {rpc['get_document_unary']['cpu_ms']} ms CPU, "
          f"{rpc['get_document_unary']['wall_ms']} ms wall")
    print("Thread-pool hop around the same lookup (p50, ms): " + ", ".join(
        f"{b['customers']} customers +{b['thread_pool_hop_p50_ms']:.3f}" for b in results["bare_lookup"]))
    print("\nOverhead (webhook p50 at 1 client - bare lookup p50): " + ", ".join(
        f"{o['customers']} customers {o['overhead_ms']:.2f} ms" for o in results["overhead"]))
    growth = results["growth"]
    print("Growth (bare lookup p50): " + ", ".join(f"{s}: {p} ms" for s, p in zip(growth["sizes"], growth["p50_ms"]))
          + f"; ratio {growth['ratio_p50']}; loading took " + ", ".join(f"{k}: {v} s" for k, v in growth["load_s"].items()))
    print("(fn CPU: the function's CPU milliseconds per request, gunicorn worker and all its threads)")
    print(f"\n{'target':<58}{'value':>10}  {'limit':<14}result")
    for t in results["targets"]:
        limit = f"{'>=' if t['higher_is_better'] else '<='} {t['limit']:g} {t['unit']}"
        value = ("yes" if t["value"] else "no") if t["unit"] == "yes=1" else f"{t['value']:g}"
        print(f"{t['target']:<58}{value:>10}  {limit if t['unit'] != 'yes=1' else '':<14}{'PASS' if t['pass'] else 'FAIL'}")
    print(f"\nWrote {RESULTS_JSON.relative_to(ROOT)} and {LATENCY_PNG.relative_to(ROOT)}; took {results['duration_s']:.0f} s")


def plot(results: dict[str, Any], plan: Plan) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    import matplotlib.ticker

    smallest, largest = min(plan.sizes), max(plan.sizes)
    fig, axes = plt.subplots(1, 3, figsize=(18, 5.5))
    colors = {"conv_add_known": "tab:blue", "conv_add_unknown": "tab:orange", "participant_added": "tab:green",
              "customers_list": "tab:red", "platform_floor": "tab:gray", "conv_add_no_address": "tab:purple", "bare": "black"}
    def curve(points: Sequence[Sequence[float]]) -> tuple[list[float], list[float]]:
        # A logit percentile axis spreads the tail (p90..p99.9) that a linear one squashes.
        inner = [(value, p) for p, value in points if 0 < p < 100]
        return [max(value, 1) / 1000 for value, _ in inner], [p / 100 for _, p in inner]

    for ax, clients in zip(axes[:2], (1, 16)):
        for row in results["warm"]:
            if row["clients"] != clients:
                continue
            style = "-" if row["customers"] == smallest else "--"
            ax.plot(*curve(row["percentiles_us"]), style, color=colors[row["scenario"]], label=f"{row['label']} ({row['customers']:,})")
        if clients == 1:
            for bare in results["bare_lookup"]:
                if bare["customers"] in (smallest, largest):
                    ax.plot(*curve(bare["percentiles"]), ":" if bare["customers"] == largest else "-", color=colors["bare"],
                            label=f"bare lookup ({bare['customers']:,})")
        ax.set_xscale("log")
        ax.set_yscale("logit")
        ticks = [0.01, 0.1, 0.25, 0.5, 0.75, 0.9, 0.95, 0.99, 0.999]
        ax.set_yticks(ticks, [f"p{t * 100:g}" for t in ticks])
        ax.yaxis.set_minor_formatter(matplotlib.ticker.NullFormatter())
        ax.set_xlabel("latency (ms, log scale)")
        ax.set_ylabel("percentile")
        ax.grid(True, which="major", alpha=0.3)
        ax.set_title(f"{clients} client{'s' if clients > 1 else ''} (keep-alive): latency distribution")
        ax.legend(fontsize=7, loc="upper left")
    axes[1].axvline(TARGETS["p99_16_ms"], color="grey", linewidth=0.8)
    axes[1].text(TARGETS["p99_16_ms"], 0.02, " p99 target", fontsize=7, color="grey")
    growth = results["growth"]
    ax = axes[2]
    for key, label in (("p50_ms", "p50"), ("p95_ms", "p95"), ("p99_ms", "p99")):
        ax.plot(growth["sizes"], growth[key], "o-", label=label)
    ax.set_xscale("log")
    ax.set_xlabel("customers loaded (log scale)")
    ax.set_ylabel("bare lookup latency (ms)")
    ax.set_ylim(bottom=0)
    ax.grid(True, which="both", alpha=0.3)
    ax.set_title(f"Lookup vs customer base: p50 ratio {growth['ratio_p50']}")
    ax.legend(fontsize=8)
    m = results["machine"]
    fig.suptitle(f"frontline_webhook under gunicorn (1 worker, {GUNICORN_THREADS} threads), Firestore emulator, "
                 f"{m['nproc']} CPUs {m['cpu_model']}; {results['started']}", fontsize=10)
    fig.tight_layout()
    fig.savefig(LATENCY_PNG, dpi=110)
    plt.close(fig)


# --- the whole run ----------------------------------------------------------------------------

def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m bench.run", description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="smaller customer bases and shorter runs")
    parser.add_argument("--profile", action="store_true", help="py-spy the server during onConversationAdd at 16 clients")
    args = parser.parse_args(argv)
    plan = QUICK if args.quick else Plan()
    began = time.perf_counter()
    WORK_DIR.mkdir(parents=True, exist_ok=True)
    for old_log in [*WORK_DIR.glob("server-*.log"), WORK_DIR / "emulator.log"]:  # one run's logs, not every run's
        old_log.unlink(missing_ok=True)
    wrk = ensure_wrk()
    results: dict[str, Any] = {"started": datetime.now(timezone.utc).strftime("%Y-%m-%d %H:%M UTC"), "plan": plan.__dict__,
                               "machine": machine(), "targets_limits": TARGETS}

    os.environ.update({"GOOGLE_CLOUD_PROJECT": PROJECT, "TWILIO_AUTH_TOKEN": AUTH_TOKEN, "TWILIO_ACCOUNT_SID": ACCOUNT_SID})
    from tests.twilio_standin import TwilioStandIn
    from tools.emulator import Emulator, EmulatorUnavailable, free_port

    emulator = Emulator(PROJECT, log_path=WORK_DIR / "emulator.log", host_port=f"127.0.0.1:{free_port()}")
    standin = TwilioStandIn(ACCOUNT_SID, AUTH_TOKEN)  # Nagle is off in the stand-in itself
    server: Server | None = None
    floor: Server | None = None
    reads = None
    try:
        try:
            emulator.start()
        except EmulatorUnavailable as error:
            raise BenchError(str(error)) from None
        os.environ["FIRESTORE_EMULATOR_HOST"] = emulator.host_port
        standin.start()
        env = server_env(emulator.host_port, standin.base_url)
        log(f"Firestore emulator on {emulator.host_port}, Twilio stand-in on {standin.base_url}")
        from store.addresses import address_key
        from store.client import firestore_client

        db = firestore_client(PROJECT)
        seed_base(db)
        load_s = {str(BASE_CUSTOMERS): 0.0}
        rng = random.Random(5)

        results["import"] = measure_imports(plan, env)
        results["cold_start"] = measure_cold_start(plan, env, customer_address(0))

        # Cache off: every scenario here makes its read; bench/reads.py measures hits and misses apart.
        server = Server({**env, "PROFILE_CACHE_TTL_S": "0"}, WORK_DIR / "server-warm.log").start()
        server.first_answer("/", None)
        floor = Server(env, WORK_DIR / "server-floor.log", target="floor", source=BENCH_DIR / "floor_function.py").start()
        floor.first_answer("/", None)
        warm = Warm(server, emulator.process.pid if emulator.process else 0, wrk, plan)
        from bench.reads import ReadBench

        reads = ReadBench(warm, floor, env, emulator.host_port).start()
        bare_rows, overhead = [], []
        loaded = BASE_CUSTOMERS
        # The emulator is a JVM: its lookups get faster for the first ~10,000 or so while the JIT compiles
        # them. Unwarmed, the first (100-customer) measurements would be slower for that reason alone,
        # and the growth ratio would flatter the larger sizes.
        log("warming up the emulator (JIT) and the server: 4 clients for 5 s, then 10,000 lookups, before anything is measured")
        warm.run(scenarios(standin, BASE_CUSTOMERS, rng)["conv_add_known"], BASE_CUSTOMERS, 4, seconds=5, record=False)
        bare_lookup(db, [address_key(customer_address(n)[0]) for n in range(BASE_CUSTOMERS)], plan.bare_samples * 5 // 2)
        for size in plan.sizes:
            if size > loaded:
                log(f"loading customers {loaded:,} -> {size:,} (batched writes)")
                load_s[str(size)] = round(load_bulk(db, loaded, size), 1)
                loaded = size
            by_size = scenarios(standin, size, rng)
            keys = [address_key(customer_address(n)[0]) for n in rng.choices(range(size), k=plan.bare_samples)]
            names = ["platform_floor", "conv_add_no_address", "conv_add_known", "conv_add_unknown", "participant_added",
                     "customers_list"] if size == min(plan.sizes) \
                else ["conv_add_known", "conv_add_unknown", "participant_added"] if size == max(plan.sizes) else []
            if names:
                log(f"warm runs at {size:,} customers: {', '.join(names)} at 1 and 16 clients, {plan.warm_seconds} s or {plan.warm_max} requests each")
                for name in names:
                    # The floor is a separate server: functions-framework serving a function that does nothing.
                    target = floor if name == "platform_floor" else None
                    warm.run(by_size[name], size, 4, seconds=1, record=False, server=target)  # warm-up, not recorded
                    standin.reset()
                    for clients in (1, 16):
                        if name == "conv_add_known" and clients == 1:
                            _, bare, size_overhead = sequential_overhead(warm, by_size[name], db, keys, size)
                            bare_rows.append(bare)
                            overhead.append(size_overhead)
                        else:
                            warm.run(by_size[name], size, clients, server=target)
                        standin.reset()
            else:
                bare = {"customers": size, **bare_lookup(db, keys, plan.bare_samples)}
                bare_rows.append(bare)
                log(f"  bare lookup at {size:,}: p50 {bare['p50_ms']} ms, p99 {bare['p99_ms']} ms")
            if size in (min(plan.sizes), max(plan.sizes)):
                reads.measure(size, rng)
            if args.profile and size == max(plan.sizes):
                log("profiling the worker with py-spy during onConversationAdd at 16 clients")
                results["profile"] = profile_server(warm, by_size["conv_add_known"], size)
        results["warm"] = warm.rows
        results["bare_lookup"] = bare_rows
        results["overhead"] = overhead
        results["overhead_breakdown"] = overhead_breakdown(warm.rows, bare_rows, min(plan.sizes))
        results["rpc_cost"] = rpc_cost(db, [address_key(customer_address(n)[0]) for n in range(BASE_CUSTOMERS)], 1000)
        by_customers = {b["customers"]: b for b in bare_rows}
        sizes = sorted(by_customers)
        results["growth"] = {
            "sizes": sizes,
            "p50_ms": [by_customers[s]["p50_ms"] for s in sizes],
            "p95_ms": [by_customers[s]["p95_ms"] for s in sizes],
            "p99_ms": [by_customers[s]["p99_ms"] for s in sizes],
            "ratio_p50": round(by_customers[sizes[-1]]["p50_ms"] / by_customers[sizes[0]]["p50_ms"], 2),
            "load_s": load_s,
        }
    finally:
        if reads is not None:
            reads.stop()
        if floor is not None:
            floor.stop()
        if server is not None:
            server.stop()
        standin.stop()
        emulator.stop()
    results["loadavg_at_end"] = os.getloadavg()
    results["duration_s"] = round(time.perf_counter() - began, 1)
    from bench import reads as read_targets

    results["reads"] = reads.results if reads is not None else []
    results["targets"] = evaluate(results, plan) + read_targets.evaluate(results["reads"])
    RESULTS_JSON.write_text(json.dumps(results, indent=1) + "\n")
    plot(results, plan)
    read_targets.print_report(results["reads"])
    print_report(results)
    if "profile" in results:
        print("\nProfile (share of samples in our frames, all threads): " + results["profile"].get("file", results["profile"].get("error", "")))
        for frame in results["profile"].get("top_own_frames", [])[:15]:
            print(f"  {frame['share'] * 100:5.1f}%  {frame['frame']}")
    return 0


if __name__ == "__main__":
    try:
        sys.exit(main())
    except BenchError as failure:
        print(f"bench: {failure}", file=sys.stderr)
        sys.exit(1)
