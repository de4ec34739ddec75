"""Reads at the floor: `onConversationAdd` on a cache hit and on a miss, next to what bounds them.

Called by bench/run.py at its smallest and largest customer base. Two servers of its own,
both exactly like the warm one (gunicorn, functions-framework, one worker, 8 threads):
`cached` with the default PROFILE_CACHE_TTL_S (30 s) and `uncached` with 0 (every request
one GetDocument). Scenarios, each reported apart:

- hit: a working set of 100 known customers' addresses, primed by a 1 s run just before
  each measurement (so no entry reaches its 30 s TTL inside one);
- miss: the same request for a random known customer on the uncached server;
- fresh known / fresh unknown: the cached server, every request an address it has never
  seen (a known customer's, or one nobody has): a miss with the cache's own bookkeeping;
- floor: the no-op function; bare GetDocument: `store.reader`'s read in a loop in this
  process (the same call the function makes, decode included).

Sequential comparisons are made in alternating rounds (floor, hit, miss, bare, repeated), so
a change in the machine's load between two measurements cannot pass for overhead: the target
margins are the median round's.
"""

from __future__ import annotations

import os
import statistics
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from bench.common import WORK_DIR, IndexReads, log, percentile, summary_ms
from bench.customers import customer_address, unknown_address
from bench.server import Server
from bench.signed import conversation_add_form
from bench.warm import Scenario

WORKING_SET = 100  # addresses a hit scenario cycles through
ROUNDS = 3
PROJECT = "demo-bench"

TARGETS = {
    "hit_over_floor_ms": 0.5,  # hit p50 <= floor p50 + this
    "miss_over_floor_and_get_ms": 0.4,  # miss p50 <= floor p50 + bare GetDocument p50 + this
    "hit_rps_16": 900.0,
    "hit_p99_16_ms": 25.0,
    "fresh_rps_16": 700.0,
    "hit_cpu_ms": 1.2,
    "miss_cpu_ms": 1.6,
}


def _name_check(prefix: tuple[str, ...]) -> Callable[[int, Any], str | None]:
    def check(status: int, body: Any) -> str | None:
        name = body.get("friendly_name", "") if isinstance(body, dict) else ""
        return None if status == 200 and name.startswith(prefix) else f"expected a friendly_name starting {prefix}"
    return check


@dataclass
class ReadBench:
    warm: Any  # bench.warm.Warm: runs wrk against a server and records the row
    floor: Any  # the no-op function's server
    env: dict[str, str]
    emulator_host: str
    cached: Any = None
    uncached: Any = None
    results: list[dict[str, Any]] = field(default_factory=list)
    _next_unknown: int = 0

    def start(self) -> ReadBench:
        self.cached = Server({**self.env, "PROFILE_CACHE_TTL_S": "30"}, WORK_DIR / "server-reads-cached.log").start()
        self.uncached = Server({**self.env, "PROFILE_CACHE_TTL_S": "0"}, WORK_DIR / "server-reads-uncached.log").start()
        for server in (self.cached, self.uncached):
            server.first_answer("/", None)
        return self

    def stop(self) -> None:
        for server in (self.cached, self.uncached):
            if server is not None:
                server.stop()

    # --- scenarios --------------------------------------------------------------------------

    def _known(self, numbers: list[int], label: str, key: str, check: Callable[[int, Any], str | None] | None = None) -> Scenario:
        def requests(count: int) -> list[tuple[str, dict[str, str]]]:
            return [("/", conversation_add_form(customer_address(numbers[i % len(numbers)])[0])) for i in range(count)]
        return Scenario(key, label, requests, check or _name_check(("Base Customer", "Customer")), lambda: requests(1)[0])

    def _fresh(self, known_order: list[int] | None) -> Scenario:
        """Every request an address the cached server has not seen: the next of `known_order`, or a new unknown one."""
        remaining = iter(known_order or [])

        def take() -> str:
            if known_order is not None:
                n = next(remaining, None)
                if n is None:
                    raise RuntimeError("ran out of fresh known customers")
                return customer_address(n)[0]
            self._next_unknown += 1
            return unknown_address(5_000_000 + self._next_unknown)

        def requests(count: int) -> list[tuple[str, dict[str, str]]]:
            return [("/", conversation_add_form(take())) for _ in range(count)]
        known = known_order is not None
        label = f"onConversationAdd, fresh {'known customer' if known else 'unknown address'} (cache on)"
        check = _name_check(("Base Customer", "Customer")) if known else _name_check(("+1303",))
        return Scenario(f"reads_fresh_{'known' if known else 'unknown'}", label, requests, check, lambda: requests(1)[0])

    def _bare_get_document(self, keys: list[str], samples: int) -> tuple[list[float], float]:
        """(latencies in s, client CPU ms per call) of the reader's GetDocument, in this process."""
        read = IndexReads.open(PROJECT, self.emulator_host, keys)
        for i in range(min(len(keys), 200)):
            read(i)
        latencies = []
        cpu = time.process_time()
        for i in range(samples):
            started = time.perf_counter()
            read(i)
            latencies.append(time.perf_counter() - started)
        cpu_ms = (time.process_time() - cpu) / samples * 1000
        read.close()
        return latencies, round(cpu_ms, 3)

    def _prime(self, scenario: Scenario, size: int) -> None:
        self.warm.run(scenario, size, 4, seconds=1, record=False, server=self.cached, count=WORKING_SET * 3)

    # --- one customer base ------------------------------------------------------------------

    def measure(self, size: int, rng: Any) -> dict[str, Any]:
        from store.addresses import address_key

        plan = self.warm.plan
        numbers = list(range(size))
        rng.shuffle(numbers)
        working_set, rest = numbers[:WORKING_SET], numbers[WORKING_SET:]
        hit = self._known(working_set, "onConversationAdd, cache hit", "reads_hit")
        miss = self._known(numbers, "onConversationAdd, cache off (a read each)", "reads_miss")
        floor = self._known(numbers, "floor: functions-framework, no-op fn", "reads_floor",
                            lambda status, body: None if status == 200 and body == {} else "expected 200 {}")
        keys = [address_key(customer_address(n)[0]) or "" for n in rng.choices(numbers, k=plan.bare_samples)]
        seconds = max(2, plan.warm_seconds // 2)
        # Rows stay out of warm.rows (its plot knows only its own scenarios); the count bound is the warm one.
        measured: dict[str, Any] = {"record": False, "count": plan.warm_max}
        log(f"reads at {size:,} customers: {ROUNDS} alternating rounds of floor, hit, miss ({seconds} s each) and bare GetDocument")
        self.warm.run(miss, size, 4, seconds=1, record=False, server=self.uncached)  # warm-up
        rounds = []
        all_bare: list[float] = []
        bare_cpu = []
        for _ in range(ROUNDS):
            floor_row = self.warm.run(floor, size, 1, seconds=seconds, server=self.floor, **measured)
            self._prime(hit, size)
            hit_row = self.warm.run(hit, size, 1, seconds=seconds, server=self.cached, **measured)
            miss_row = self.warm.run(miss, size, 1, seconds=seconds, server=self.uncached, **measured)
            bare, cpu_ms = self._bare_get_document(keys, max(plan.bare_samples // ROUNDS, 300))
            all_bare += bare
            bare_cpu.append(cpu_ms)
            bare_p50 = percentile(sorted(bare), 50) * 1000
            rounds.append({
                "floor_p50_ms": floor_row["p50_ms"], "hit_p50_ms": hit_row["p50_ms"], "miss_p50_ms": miss_row["p50_ms"],
                "bare_get_document_p50_ms": round(bare_p50, 3),
                "hit_over_floor_ms": round(hit_row["p50_ms"] - floor_row["p50_ms"], 3),
                "miss_over_floor_and_get_ms": round(miss_row["p50_ms"] - floor_row["p50_ms"] - bare_p50, 3),
                "rows": {"floor": floor_row, "hit": hit_row, "miss": miss_row}, "loadavg_before": round(os.getloadavg()[0], 2),
            })
            log(f"  round: floor {floor_row['p50_ms']:.3f}, hit {hit_row['p50_ms']:.3f}, miss {miss_row['p50_ms']:.3f}, "
                f"bare GetDocument {bare_p50:.3f} ms p50: hit - floor {rounds[-1]['hit_over_floor_ms']:+.3f}, "
                f"miss - floor - get {rounds[-1]['miss_over_floor_and_get_ms']:+.3f}")
        sequential = {}
        for name, rows_key in (("hit", "hit_over_floor_ms"), ("miss", "miss_over_floor_and_get_ms")):
            ordered = sorted(rounds, key=lambda r: r[rows_key])
            median_round = ordered[len(ordered) // 2]
            sequential[name] = {"margin_ms": median_round[rows_key], "margins_ms": [r[rows_key] for r in rounds],
                                "row": median_round["rows"][name], "floor_row": median_round["rows"]["floor"],
                                "bare_get_document_p50_ms": median_round["bare_get_document_p50_ms"]}
        concurrent = {}
        log(f"reads at {size:,} customers: 16 clients")
        self._prime(hit, size)
        concurrent["hit"] = self.warm.run(hit, size, 16, server=self.cached, **measured)
        concurrent["miss"] = self.warm.run(miss, size, 16, server=self.uncached, **measured)
        if len(rest) >= 2 * (plan.warm_max + 20):  # two runs of fresh known customers (not at 100)
            fresh_known = self._fresh(rest)
            concurrent["fresh_known_1"] = self.warm.run(fresh_known, size, 1, server=self.cached, **measured)
            concurrent["fresh_known"] = self.warm.run(fresh_known, size, 16, server=self.cached, **measured)
        concurrent["fresh_unknown"] = self.warm.run(self._fresh(None), size, 16, server=self.cached, **measured)
        for name, row in concurrent.items():
            log(f"  {name:<14} {row['clients']:>2} clients: {row['rps']:>7.1f} req/s  p50 {row['p50_ms']:.2f}  p99 {row['p99_ms']:.2f} ms  "
                f"fn CPU {row['cpu_per_request_ms']['function']:.3f} ms, emulator CPU {row['cpu_per_request_ms']['emulator']:.3f} ms per request")
        result = {"customers": size, "rounds": rounds, "sequential": sequential, "concurrent": concurrent,
                  "bare_get_document": {**summary_ms(all_bare), "cpu_ms_per_call": statistics.median(bare_cpu),
                                        "cpu_ms_per_call_rounds": bare_cpu}}
        self.results.append(result)
        return result


def evaluate(results: list[dict[str, Any]]) -> list[dict[str, Any]]:
    targets = []
    for result in results:
        size = result["customers"]
        seq = result["sequential"]
        targets.append((f"hit p50 - floor p50, 1 client, {size} customers", seq["hit"]["margin_ms"], TARGETS["hit_over_floor_ms"], "ms", False))
        targets.append((f"miss p50 - floor - GetDocument p50, 1 client, {size}", seq["miss"]["margin_ms"],
                        TARGETS["miss_over_floor_and_get_ms"], "ms", False))
    largest = max(results, key=lambda r: r["customers"])
    size = largest["customers"]
    hit16, fresh16 = largest["concurrent"]["hit"], largest["concurrent"].get("fresh_known") or largest["concurrent"]["fresh_unknown"]
    fresh_label = "fresh known" if "fresh_known" in largest["concurrent"] else "fresh unknown"
    targets += [
        (f"hits req/s, 16 clients, {size} customers", hit16["rps"], TARGETS["hit_rps_16"], "req/s", True),
        (f"hits p99, 16 clients, {size} customers", hit16["p99_ms"], TARGETS["hit_p99_16_ms"], "ms", False),
        (f"misses ({fresh_label}) req/s, 16 clients, {size}", fresh16["rps"], TARGETS["fresh_rps_16"], "req/s", True),
        ("fn CPU per hit, worst row", max(_cpu(r, "hit") for r in results), TARGETS["hit_cpu_ms"], "ms", False),
        ("fn CPU per miss, worst row", max(_cpu(r, "miss") for r in results), TARGETS["miss_cpu_ms"], "ms", False),
    ]
    return [{"target": name, "value": value, "limit": limit, "unit": unit, "higher_is_better": higher,
             "pass": value >= limit if higher else value <= limit} for name, value, limit, unit, higher in targets]


def _cpu(result: dict[str, Any], kind: str) -> float:
    if kind == "hit":
        rows = [result["sequential"]["hit"]["row"], result["concurrent"]["hit"]]
    else:
        rows = [result["sequential"]["miss"]["row"], result["concurrent"]["miss"],
                *(result["concurrent"][k] for k in ("fresh_known_1", "fresh_known", "fresh_unknown") if k in result["concurrent"])]
    return max(row["cpu_per_request_ms"]["function"] for row in rows)


def print_report(results: list[dict[str, Any]]) -> None:
    print("\nReads (bench/reads.py): onConversationAdd by cache outcome; fn / emulator CPU = ms per request")
    print(f"{'scenario':<56}{'customers':>10}{'clients':>8}{'req/s':>8}{'p50 ms':>8}{'p99 ms':>8}{'fn CPU':>8}{'emu CPU':>8}")
    labels = {"hit": "cache hit (working set of 100, primed)", "miss": "cache off: one GetDocument each",
              "fresh_known_1": "fresh known customer each request (cache on)", "fresh_known": "fresh known customer each request (cache on)",
              "fresh_unknown": "fresh unknown address each request (cache on)"}
    for result in results:
        seq = result["sequential"]
        rows = [("floor: no-op function (median round)", seq["hit"]["floor_row"]), (labels["hit"] + " (median round)", seq["hit"]["row"]),
                (labels["miss"] + " (median round)", seq["miss"]["row"]),
                *((labels[name], row) for name, row in result["concurrent"].items())]
        for label, row in rows:
            print(f"{label:<56}{result['customers']:>10}{row['clients']:>8}{row['rps']:>8.0f}{row['p50_ms']:>8.2f}{row['p99_ms']:>8.2f}"
                  f"{row['cpu_per_request_ms']['function']:>8.3f}{row['cpu_per_request_ms']['emulator']:>8.3f}")
        bare = result["bare_get_document"]
        print(f"{'bare GetDocument (store.reader, in the bench process)':<56}{result['customers']:>10}{1:>8}{'':>8}{bare['p50_ms']:>8.2f}"
              f"{bare['p99_ms']:>8.2f}{bare['cpu_ms_per_call']:>8.3f}")
        for name in ("hit", "miss"):
            print(f"  {name} margin {seq[name]['margin_ms']:+.3f} ms (rounds {seq[name]['margins_ms']})")


def main(argv: list[str] | None = None) -> int:
    """Only this part of the bench: `python -m bench.reads [--quick]` (100 and 100,000 customers; --quick: 100 and 5,000)."""
    import argparse
    import json
    import random

    from bench import common, customers, server, warm as warm_module

    parser = argparse.ArgumentParser(prog="python -m bench.reads", description=main.__doc__)
    parser.add_argument("--quick", action="store_true")
    args = parser.parse_args(argv)
    plan = common.QUICK if args.quick else common.Plan()
    sizes = (min(plan.sizes), max(plan.sizes))
    WORK_DIR.mkdir(parents=True, exist_ok=True)
    os.environ.update({"GOOGLE_CLOUD_PROJECT": PROJECT, "TWILIO_AUTH_TOKEN": common.AUTH_TOKEN, "TWILIO_ACCOUNT_SID": common.ACCOUNT_SID})
    from tests.twilio_standin import TwilioStandIn
    from tools.emulator import Emulator, free_port

    emulator = Emulator(PROJECT, log_path=WORK_DIR / "emulator.log", host_port=f"127.0.0.1:{free_port()}")
    standin = TwilioStandIn(common.ACCOUNT_SID, common.AUTH_TOKEN)
    floor = reads = None
    try:
        emulator.start()
        os.environ["FIRESTORE_EMULATOR_HOST"] = emulator.host_port
        standin.start()
        env = server.server_env(emulator.host_port, standin.base_url)
        from store.client import firestore_client

        db = firestore_client(PROJECT)
        customers.seed_base(db)
        floor = Server(env, WORK_DIR / "server-floor.log", target="floor", source=common.BENCH_DIR / "floor_function.py").start()
        floor.first_answer("/", None)
        warm = warm_module.Warm(floor, emulator.process.pid if emulator.process else 0, common.ensure_wrk(), plan)
        reads = ReadBench(warm, floor, env, emulator.host_port).start()
        rng = random.Random(12)
        log("warming up the emulator (JIT): 4 clients for 5 s on the uncached server")
        warm.run(reads._known(list(range(common.BASE_CUSTOMERS)), "warm-up", "reads_warmup"), common.BASE_CUSTOMERS, 4, seconds=5,
                 record=False, server=reads.uncached)
        loaded = common.BASE_CUSTOMERS
        for size in sizes:
            if size > loaded:
                log(f"loading customers {loaded:,} -> {size:,}")
                customers.load_bulk(db, loaded, size)
                loaded = size
            reads.measure(size, rng)
    finally:
        if reads is not None:
            reads.stop()
        if floor is not None:
            floor.stop()
        standin.stop()
        emulator.stop()
    targets = evaluate(reads.results)
    (WORK_DIR / "results-reads.json").write_text(json.dumps({"results": reads.results, "targets": targets}, indent=1) + "\n")
    print_report(reads.results)
    for t in targets:
        print(f"{t['target']:<58}{t['value']:>10g}  {'>=' if t['higher_is_better'] else '<='} {t['limit']:g} {t['unit']:<6}"
              f"{'PASS' if t['pass'] else 'FAIL'}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
