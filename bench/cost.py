"""Capacity and monthly cost on paper, from what `make bench` measured (README "Capacity and cost").

    .venv/bin/python -m bench.cost [RESULTS_JSON]   # default: bench/results.json, else .local/bench/results-capped.json

Takes the capped instance's measured CPU per request and requests/s (the `capacity` phase: one
instance at the deploy default's vCPU share, CONCURRENCY closed-loop clients, onConversationAdd for
known customers: one Firestore document read, one JSON answer) and the deploy defaults, and prints
instances and monthly cost for 1,000, 100,000 and 10,000,000 webhooks a day. Prices are list
prices in USD for Tier 1 regions; PRICES says where each comes from and when it was read.

The model, in the open so it can be argued with:
- traffic spread evenly over the day (Poisson arrivals at the daily average); peaks need more
  instances (scale the rate), not a different formula;
- Cloud Run scales out at about 60 % CPU use, so one instance carries 0.6 x the measured rate;
- request-based billing bills an instance while it has a request in flight, rounded up to 100 ms:
  an instance's billable share of the time is the chance that a 100 ms slot holds a request
  (1 - e^(-rate x 0.1 s)); this undercounts webhooks that wait longer than 100 ms on Twilio
  (onParticipantAdded's two REST calls) and overcounts none;
- MIN_INSTANCES bill their idle time at the idle rate;
- one Firestore document read per webhook (onConversationAdd and onParticipantAdded each read
  one `customer_addresses` entry); webhooks write nothing; the trigger's writes follow profile
  edits, not webhooks, and are priced per 1,000 edits.
"""

from __future__ import annotations

import json
import math
import sys
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

SECONDS_PER_MONTH = 30 * 86_400
DAYS_PER_MONTH = 30
VOLUMES = (1_000, 100_000, 10_000_000)
SCALE_OUT_AT = 0.6  # Cloud Run's target CPU utilisation before it adds an instance
PEAK_FACTOR = 3  # the busiest hour at three times the day's average rate: an assumption, not a measurement
BILLING_SLOT_S = 0.1

# USD, Tier 1 regions, read 2026-11-30 from stored copies of the pages named (check them before you budget).
PRICES = {
    "source_run": "https://cloud.google.com/run/pricing (request-based billing; Cloud Run functions made with the Cloud Functions v2 API "
                  "are billed at Cloud Run prices: https://cloud.google.com/functions/pricing)",
    "cpu_s": 0.000024,          # per vCPU-second while a request is in flight
    "memory_gib_s": 0.0000025,  # per GiB-second while a request is in flight
    "idle_cpu_s": 0.0000025,    # per vCPU-second of an idle minimum instance
    "idle_memory_gib_s": 0.0000025,
    "per_million_requests": 0.40,
    "free_cpu_s": 180_000, "free_memory_gib_s": 360_000, "free_requests": 2_000_000,  # per month and billing account
    "source_firestore": "https://cloud.google.com/firestore/pricing (Standard edition; free quota per day on the (default) database; "
                        "regional price as for us-central1, multi-region nam5/eur3 about twice it)",
    "firestore_read_per_100k": 0.03,
    "firestore_write_per_100k": 0.09,
    "firestore_free_reads_per_day": 50_000,
    "firestore_free_writes_per_day": 20_000,
}


def _mib(memory: str) -> float:
    from tools.deploy import memory_mib

    return memory_mib(memory)


def plan_volume(per_day: int, capacity: dict[str, Any], min_instances: int) -> dict[str, Any]:
    """Instances, billable time and monthly cost for `per_day` webhooks."""
    defaults = capacity["defaults"]
    vcpu, memory_gib = defaults["share"], _mib(defaults["memory"]) / 1024
    rate = per_day / 86_400
    per_instance = SCALE_OUT_AT * capacity["rps"]
    instances = max(1, math.ceil(rate / per_instance))
    busy_share = 1 - math.exp(-(rate / instances) * BILLING_SLOT_S)
    billed_s = instances * busy_share * SECONDS_PER_MONTH
    # A minimum instance is billed at the active rate while it has a request and at the idle rate otherwise.
    idle_s = min_instances * SECONDS_PER_MONTH * (1 - busy_share if min_instances <= instances else 1)
    requests = per_day * DAYS_PER_MONTH
    cpu = max(0.0, billed_s * vcpu - PRICES["free_cpu_s"]) * PRICES["cpu_s"]
    memory = max(0.0, billed_s * memory_gib - PRICES["free_memory_gib_s"]) * PRICES["memory_gib_s"]
    idle = idle_s * (vcpu * PRICES["idle_cpu_s"] + memory_gib * PRICES["idle_memory_gib_s"])
    request_fees = max(0, requests - PRICES["free_requests"]) / 1e6 * PRICES["per_million_requests"]
    reads = max(0, per_day - PRICES["firestore_free_reads_per_day"]) * DAYS_PER_MONTH
    firestore = reads / 1e5 * PRICES["firestore_read_per_100k"]
    return {
        "per_day": per_day, "per_second": round(rate, 3), "instances": instances,
        "peak_instances": max(1, math.ceil(PEAK_FACTOR * rate / per_instance)),
        "cpu_used_share": rate * capacity["cpu_per_request_ms"] / 1000,
        "billed_instance_hours": round(billed_s / 3600, 1), "idle_instance_hours": round(idle_s / 3600, 1),
        "compute_usd": round(cpu + memory, 2), "idle_usd": round(idle, 2), "requests_usd": round(request_fees, 2),
        "firestore_usd": round(firestore, 2), "total_usd": round(cpu + memory + idle + request_fees + firestore, 2),
    }


def min_instance_month(capacity: dict[str, Any]) -> float:
    """One minimum instance idle for a whole month, before any free tier."""
    defaults = capacity["defaults"]
    return round(SECONDS_PER_MONTH * (defaults["share"] * PRICES["idle_cpu_s"] + _mib(defaults["memory"]) / 1024 * PRICES["idle_memory_gib_s"]), 2)


def trigger_per_thousand_edits() -> float:
    """Firestore cost of 1,000 profile edits through the trigger, past the free quota: each edit is read
    back with its index entries (~3 reads) and converged (~2 writes); the trigger's own write fires one
    more event that reads ~3 documents and writes nothing."""
    reads, writes = 1000 * 6, 1000 * 2
    return round(reads / 1e5 * PRICES["firestore_read_per_100k"] + writes / 1e5 * PRICES["firestore_write_per_100k"], 3)


def load_capacity(path: Path | None) -> tuple[dict[str, Any], Path]:
    candidates = [path] if path else [ROOT / "bench" / "results.json", ROOT / ".local" / "bench" / "results-capped.json"]
    for candidate in candidates:
        if candidate and candidate.exists():
            capacity = json.loads(candidate.read_text()).get("capacity")
            if capacity and "skipped" not in capacity:
                return capacity, candidate
    raise SystemExit("no capacity measurement found: run `make bench` (or `python -m bench.run --capped-only`) as root first")


def main(argv: list[str] | None = None) -> int:
    args = sys.argv[1:] if argv is None else argv
    capacity, source = load_capacity(Path(args[0]) if args else None)
    from tools.deploy import DEPLOY_SETTINGS

    min_instances = int(DEPLOY_SETTINGS["MIN_INSTANCES"][1])
    d = capacity["defaults"]
    print(f"From {source.relative_to(ROOT) if source.is_relative_to(ROOT) else source}: one instance at {d['share']:g} vCPU / {d['memory']}, "
          f"concurrency {d['concurrency']}: {capacity['rps']:.0f} req/s measured, {capacity['cpu_per_request_ms']:.2f} ms CPU a webhook; "
          f"planned at {SCALE_OUT_AT:.0%} of that = {SCALE_OUT_AT * capacity['rps']:.0f} req/s an instance; MIN_INSTANCES={min_instances}")
    print(f"\n| webhooks a day | average req/s | instances at the average (at {PEAK_FACTOR}x) | CPU in use (of one vCPU) | billed instance-hours / month | "
          "compute | idle min instance | requests | Firestore reads | total / month |")
    print("|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|")
    for per_day in VOLUMES:
        p = plan_volume(per_day, capacity, min_instances)
        print(f"| {per_day:,} | {p['per_second']:g} | {p['instances']} ({p['peak_instances']}) | {p['cpu_used_share'] * 100:.2g} % | {p['billed_instance_hours']:,} | "
              f"${p['compute_usd']:,.2f} | ${p['idle_usd']:,.2f} | ${p['requests_usd']:,.2f} | ${p['firestore_usd']:,.2f} | "
              f"**${p['total_usd']:,.2f}** |")
    print(f"\nOne minimum instance idle all month: ${min_instance_month(capacity):.2f} (idle rate, before the free tier).")
    print(f"Trigger: about ${trigger_per_thousand_edits():.3f} of Firestore per 1,000 profile edits past the free quota.")
    print(f"Prices: {PRICES['source_run']}; {PRICES['source_firestore']}.")
    return 0


if __name__ == "__main__":
    sys.exit(main())
