"""What every part of `make bench` shares: paths, the plan, targets, logging, the machine, statistics."""

from __future__ import annotations

import os
import platform
import re
import shutil
import subprocess
import sys
import time
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

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
    capped_runs: int = 4  # starts per CPU share under a cgroup cap


QUICK = Plan(sizes=(100, 1_000, 5_000), import_runs=3, cold_runs=5, split_runs=2, warm_seconds=3, warm_max=6_000, bare_samples=600,
             capped_runs=3)

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




@dataclass
class IndexReads:
    """`store.reader`'s GetDocument of index entries, the read the webhooks make, on a channel of its own.

    `reads(i)` reads the i-th key's entry (cycling through them); an entry that is missing stops the bench.
    """

    reader: Any  # store.reader.DocumentReader
    paths: list[str]
    deadline_type: Any  # runtime.deadline.Deadline, held so a read imports nothing

    @classmethod
    def open(cls, project: str, emulator_host: str, keys: Sequence[str]) -> IndexReads:
        from runtime.deadline import Deadline
        from store.collections import ADDRESS_INDEX_COLLECTION
        from store.reader import open_reader

        return cls(open_reader(project, emulator_host), [f"{ADDRESS_INDEX_COLLECTION}/{key}" for key in keys], Deadline)

    def __call__(self, i: int) -> None:
        path = self.paths[i % len(self.paths)]
        if self.reader.scalar_fields(path, self.deadline_type(2.5), "bench read") is None:
            raise BenchError(f"index entry {path} is missing")

    def close(self) -> None:
        self.reader.api.transport.close()
