"""Phases 2-5: warm latency under wrk, the bare lookup it is compared with, and optional profiling."""

from __future__ import annotations

import json
import os
import random
import re
import shutil
import subprocess
import statistics
import sys
import threading
import time
from collections.abc import Callable, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from bench.common import (LIST_PAGE_SIZE, ROOT, WORK_DIR, WRK_SCRIPT, WORKERS, BenchError, IndexReads, Plan, grid_value, log, percentile,
                          summary_ms)
from bench.customers import customer_address, unknown_address
from bench.server import Server, tree_cpu_s
from bench.signed import conversation_add_form, customers_list_form, participant_added_form, post, write_requests

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


def rpc_cost(db: Any, keys: Sequence[str], samples: int, rounds: int = 3) -> dict[str, Any]:
    """Client CPU and wall time of one index read two ways: DocumentReference.get (a server-streaming
    BatchGetDocuments call, what the Frontline callbacks' `card_for_address` makes) and the unary
    GetDocument of `store.reader` (what the webhooks make). Alternating rounds, medians of the rounds,
    so neither is measured on a warmer emulator than the other."""
    from store.client import emulator_host
    from store.collections import ADDRESS_INDEX_COLLECTION

    collection = db.collection(ADDRESS_INDEX_COLLECTION)
    read = IndexReads.open(db.project, emulator_host(), keys)
    calls = {
        "document_get_stream": lambda i: collection.document(keys[i % len(keys)]).get(timeout=2.5, retry=None),
        "store_reader_get_document": read,
    }
    measured: dict[str, dict[str, list[float]]] = {name: {"cpu_ms": [], "wall_ms": []} for name in calls}
    for call in calls.values():
        for i in range(100):
            call(i)
    for _ in range(rounds):
        for name, call in calls.items():
            cpu, wall = time.process_time(), time.perf_counter()
            for i in range(samples // rounds):
                call(i)
            measured[name]["cpu_ms"].append((time.process_time() - cpu) / (samples // rounds) * 1000)
            measured[name]["wall_ms"].append((time.perf_counter() - wall) / (samples // rounds) * 1000)
    read.close()
    return {name: {key: round(statistics.median(values), 3) for key, values in numbers.items()} for name, numbers in measured.items()}


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


