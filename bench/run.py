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
    python -m bench.run --capped-only [--cold-start-ideas]  # only the CPU-capped cold start and capacity
"""

from __future__ import annotations

import argparse
import json
import os
import random
import sys
import time
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

if __package__ in (None, ""):  # run as a script: make the repository importable
    sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from bench.common import (ACCOUNT_SID, AUTH_TOKEN, BASE_CUSTOMERS, BENCH_DIR, PROJECT, QUICK, RESULTS_JSON, ROOT, TARGETS, WORK_DIR,
                          BenchError,
                          Plan, ensure_wrk, log, machine)
from bench.capped import measure_capacity, measure_capped_cold_start, measure_ideas, prime
from bench.customers import customer_address, load_bulk, seed_base
from bench.report import evaluate, evaluate_capped, plot, print_capped, print_report
from bench.server import Server, server_env
from bench.startup import measure_cold_start, measure_imports
from bench.warm import Warm, bare_lookup, overhead_breakdown, profile_server, rpc_cost, scenarios, sequential_overhead


CAPPED_JSON = WORK_DIR / "results-capped.json"


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m bench.run", description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="smaller customer bases and shorter runs")
    parser.add_argument("--profile", action="store_true", help="py-spy the server during onConversationAdd at 16 clients")
    parser.add_argument("--capped-only", action="store_true", help="only the cold start under CPU caps and one instance's capacity")
    parser.add_argument("--cold-start-ideas", action="store_true", help="also measure the ideas in bench/variants/ against main.py")
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

        emulator_pid = emulator.process.pid if emulator.process else 0
        if args.capped_only:
            return _capped_only(args, plan, results, env, standin, emulator_pid, wrk, rng, began)
        results["import"] = measure_imports(plan, env)
        results["cold_start"] = measure_cold_start(plan, env, customer_address(0))
        results["capped"] = measure_capped_cold_start(plan, env, customer_address(0), emulator_pid)

        # Cache off: every scenario here makes its read; bench/reads.py measures hits and misses apart.
        server = Server({**env, "PROFILE_CACHE_TTL_S": "0"}, WORK_DIR / "server-warm.log").start()
        server.first_answer("/", None)
        prime(server, customer_address(0))
        floor = Server(env, WORK_DIR / "server-floor.log", target="floor", source=BENCH_DIR / "floor_function.py").start()
        floor.first_answer("/", None)
        warm = Warm(server, emulator_pid, wrk, plan)
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
        # Capacity with the cache off: every webhook reads (the worst case, and comparable with runs before the cache).
        results["capacity"] = measure_capacity(plan, {**env, "PROFILE_CACHE_TTL_S": "0"}, lambda capped: Warm(capped, emulator_pid, wrk, plan),
                                                scenarios(standin, BASE_CUSTOMERS, rng)["conv_add_known"], BASE_CUSTOMERS, customer_address(0),
                                                emulator_pid)
        if args.cold_start_ideas:
            results["ideas"] = measure_ideas(plan, env, customer_address(0), emulator_pid)
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


def _capped_only(args: argparse.Namespace, plan: Plan, results: dict[str, Any], env: dict[str, str], standin: Any, emulator_pid: int,
                 wrk: str, rng: random.Random, began: float) -> int:
    """`--capped-only`: the capped cold start, then (with a warmed emulator) one capped instance's capacity."""
    results["capped"] = measure_capped_cold_start(plan, env, customer_address(0), emulator_pid)
    scenario = scenarios(standin, BASE_CUSTOMERS, rng)["conv_add_known"]
    server = Server(env, WORK_DIR / "server-warm.log").start()
    try:
        server.first_answer("/", None)
        prime(server, customer_address(0))
        log("warming up the emulator (JIT): 4 clients for 5 s")
        Warm(server, emulator_pid, wrk, plan).run(scenario, BASE_CUSTOMERS, 4, seconds=5, record=False)
    finally:
        server.stop()
    results["capacity"] = measure_capacity(plan, {**env, "PROFILE_CACHE_TTL_S": "0"}, lambda capped: Warm(capped, emulator_pid, wrk, plan),
                                           scenario, BASE_CUSTOMERS,
                                           customer_address(0), emulator_pid)
    if args.cold_start_ideas:
        results["ideas"] = measure_ideas(plan, env, customer_address(0), emulator_pid)
    results["loadavg_at_end"] = os.getloadavg()
    results["duration_s"] = round(time.perf_counter() - began, 1)
    results["targets"] = evaluate_capped(results)
    CAPPED_JSON.write_text(json.dumps(results, indent=1) + "\n")
    print_capped(results)
    print(f"\nWrote {CAPPED_JSON.relative_to(ROOT)}; took {results['duration_s']:.0f} s")
    return 0


if __name__ == "__main__":
    try:
        sys.exit(main())
    except BenchError as failure:
        print(f"bench: {failure}", file=sys.stderr)
        sys.exit(1)
