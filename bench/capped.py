"""Cold start with the share of a CPU Cloud Run gives an instance, and what one instance carries.

A Cloud Run function instance gets a fraction of a vCPU (0.083 at 128Mi up to 1 at 2Gi when
no --cpu is set; `CPU` in deploy.env otherwise), and our cold start is CPU-bound, so it stretches
with the share. Here the function runs under functions-framework's CLI, as the Cloud Functions
runtime starts it, inside a cgroup capped at each share (bench/cgroup.py); the Firestore
emulator, the Twilio stand-in and this process stay outside the cap. Each start is timed from
`Popen` to the answer of a signed `onConversationAdd` for a known customer, sent the moment the
port accepts (Cloud Run holds the request that started an instance until the port listens).
The answer must name the customer: the address instead means the lookup missed the deadline.

With the cap at the deploy default it also measures capacity: requests/s and CPU per request of
one instance under closed-loop load with CONCURRENCY clients, and the instance's memory.

Ideas for a shorter cold start are measured the same way with `--cold-start-ideas`
(bench/variants/): each is a source file functions-framework serves instead of main.py.
"""

from __future__ import annotations

import os
import statistics
import time
from collections.abc import Iterator
from contextlib import contextmanager
from decimal import Decimal
from pathlib import Path
from typing import Any

from bench.cgroup import CgroupUnavailable, CpuCap
from bench.common import BENCH_DIR, ROOT, WORK_DIR, BenchError, Plan, log
from bench.server import Server, tree_cpu_s, tree_pss_mib
from bench.signed import conversation_add_form, post

SHARES = (1.0, 0.583, 0.333, 0.167, 0.083)  # Cloud Functions' vCPU for 2Gi, 1Gi, 512Mi, 256Mi, 128Mi
COLD_START_LIMIT_S = 1.0
TWILIO_TIMEOUT_S = 5.0  # after this Twilio stops waiting and creates the conversation unnamed
IDEAS = {
    "main.py": ROOT / "main.py",  # imports google-cloud-firestore before the fork (store.client.load_library)
    "lazy_import": BENCH_DIR / "variants" / "lazy_import.py",  # as before: the first lookup imports it
    "postfork_warmup": BENCH_DIR / "variants" / "postfork_warmup.py",
    "no_control_socket": BENCH_DIR / "variants" / "no_control_socket.py",
}
IDLE_SHARE = 0.01  # Cloud Run's request-based billing throttles an instance's CPU outside requests


def deploy_defaults() -> dict[str, Any]:
    """The webhook's sizing as `make deploy` sets it when deploy.env says nothing (tools/deploy.py)."""
    from tools.deploy import DEPLOY_SETTINGS, effective_cpu

    cpu, memory, concurrency = (DEPLOY_SETTINGS[name][1] for name in ("CPU", "MEMORY", "CONCURRENCY"))
    return {"cpu": cpu, "memory": memory, "concurrency": int(concurrency), "share": float(effective_cpu(cpu, memory))}


@contextmanager
def prioritised(pid: int) -> Iterator[None]:
    """The emulator (Firestore, in production another machine) in an uncapped, high-weight cgroup while
    the capped server is measured, so neighbours on this shared machine slow it less."""
    try:
        group = CpuCap.create(f"frontline-bench-emulator-{os.getpid()}")
    except CgroupUnavailable:
        yield
        return
    try:
        group.set_share(None)
        if pid:
            group.add(pid)
        yield
    finally:
        group.remove()


def _capped_env(env: dict[str, str], concurrency: int) -> dict[str, str]:
    # THREADS as `make deploy` sets it; without it functions-framework would size its thread pool from
    # this machine's CPU count, which says nothing about the instance.
    return {**env, "THREADS": str(concurrency)}


def _start(env: dict[str, str], cap: CpuCap, source: Path, log_name: str) -> Server:
    return Server(env, WORK_DIR / log_name, source=source, cli=True, cap=cap).start()


def cold_start_once(env: dict[str, str], cap: CpuCap, source: Path, known: tuple[str, str]) -> dict[str, Any]:
    """One start: process start → the answer to a signed onConversationAdd sent as soon as the port accepts."""
    address, name = known
    before = cap.throttled()
    server = _start(env, cap, source, "server-capped.log")
    try:
        listening, answered, status, body = server.first_answer("/", conversation_add_form(address))
        cpu = tree_cpu_s(server.process.pid) if server.process else float("nan")
    finally:
        server.stop()
    after = cap.throttled()
    named = status == 200 and isinstance(body, dict) and body.get("friendly_name") == name
    fallback = status == 200 and isinstance(body, dict) and body.get("friendly_name") == address
    return {"s": round(answered, 3), "listening_s": round(listening, 3), "cpu_s": round(cpu, 3), "status": status,
            "answer": "name" if named else "address (fallback)" if fallback else f"{status} {str(body)[:80]}",
            "throttled_s": round(after[1] - before[1], 2), "loadavg": round(os.getloadavg()[0], 2)}


def idle_first_request_once(env: dict[str, str], cap: CpuCap, source: Path, known: tuple[str, str], idle_s: float) -> dict[str, Any]:
    """An instance started ahead of its first webhook (min instances, or scaled out before the burst):
    start, wait until it answers an unsigned probe (no Firestore), leave it idle with its CPU throttled
    to IDLE_SHARE as request-based billing does, then restore the share and time the first signed
    request alone. What the start did before the port opened is no longer on this request's path."""
    address, name = known
    share = cap.share
    server = _start(env, cap, source, "server-capped-idle.log")
    try:
        _, booted, status, _ = server.first_answer("/", None)
        if status != 403:
            return {"s": float("nan"), "answer": f"probe answered {status}"}
        cap.set_share(IDLE_SHARE)
        time.sleep(idle_s)
        cap.set_share(share)
        started = time.perf_counter()
        status, body = post(server.port, "/", conversation_add_form(address), timeout=30)
        elapsed = time.perf_counter() - started
    finally:
        server.stop()
        cap.set_share(share)
    named = status == 200 and isinstance(body, dict) and body.get("friendly_name") == name
    return {"s": round(elapsed, 3), "boot_s": round(booted, 3), "answer": "name" if named else f"{status} {str(body)[:80]}"}


def prime(server: Server, known: tuple[str, str], attempts: int = 5) -> None:
    """Make the server's Firestore client before anything is measured: an instance's first lookup also
    imports the library and creates the client, and on a busy machine it can miss the deadline (the
    answer is then the address) while the client is still being made in the background."""
    address, name = known
    for _ in range(attempts):
        status, body = post(server.port, "/", conversation_add_form(address), timeout=30)
        if status == 200 and isinstance(body, dict) and body.get("friendly_name") == name:
            return
        time.sleep(1)
    raise BenchError(f"the server never named the known customer in {attempts} tries: {status} {str(body)[:100]}")


def _summary(runs: list[dict[str, Any]]) -> dict[str, Any]:
    times = [run["s"] for run in runs]
    cpu = [run["cpu_s"] for run in runs if "cpu_s" in run]
    return {"median_s": round(statistics.median(times), 3), "min_s": min(times), "max_s": max(times),
            "cpu_median_s": round(statistics.median(cpu), 3) if cpu else None,
            "named": sum(run["answer"] == "name" for run in runs),
            "named_in_time": sum(run["answer"] == "name" and run["s"] < TWILIO_TIMEOUT_S for run in runs), "runs": runs}


@contextmanager
def capped_group(name: str, emulator_pid: int) -> Iterator[CpuCap]:
    """A fresh capped cgroup for the server (removed after), with the emulator prioritised meanwhile."""
    cap = CpuCap.create(f"frontline-bench-{name}-{os.getpid()}")
    try:
        with prioritised(emulator_pid):
            yield cap
    finally:
        cap.remove()


def measure_capped_cold_start(plan: Plan, env: dict[str, str], known: tuple[str, str], emulator_pid: int = 0) -> dict[str, Any]:
    """Cold start at every share in SHARES (and the deploy default's), `plan.capped_runs` starts each."""
    defaults = deploy_defaults()
    shares = sorted({*SHARES, defaults["share"]}, reverse=True)
    env = _capped_env(env, defaults["concurrency"])
    try:
        with capped_group("cold", emulator_pid) as cap:
            results: dict[str, Any] = {"cgroup": f"v{cap.version} {cap.path}", "defaults": defaults, "by_share": {}}
            cap.set_share(1.0)
            cold_start_once(env, cap, ROOT / "main.py", known)  # writes the bytecode cache; not measured
            log(f"capped cold start: functions-framework CLI in a cgroup v{cap.version}, shares {', '.join(f'{s:g}' for s in shares)}, "
                f"{plan.capped_runs} starts each; deploy default {defaults['cpu']} vCPU ({defaults['memory']}, "
                f"concurrency {defaults['concurrency']})")
            for share in shares:
                cap.set_share(share)
                runs = [cold_start_once(env, cap, ROOT / "main.py", known) for _ in range(plan.capped_runs)]
                row = _summary(runs)
                results["by_share"][f"{share:g}"] = row
                log(f"  share {share:<6g} median {row['median_s']:.2f} s (min {row['min_s']:.2f}, max {row['max_s']:.2f}), "
                    f"CPU {row['cpu_median_s']:.2f} s; named {row['named']}/{len(runs)}, of which within Twilio's 5 s {row['named_in_time']}; answers: {', '.join(r['answer'] for r in runs)}")
    except CgroupUnavailable as why:
        log(f"capped cold start SKIPPED: no writable cgroup CPU controller ({why}). Run as root on Linux with cgroup v2 "
            "(cpu controller) or v1 (cpu.cfs_quota_us) to measure it.")
        return {"skipped": str(why), "defaults": defaults}
    return results


def measure_capacity(plan: Plan, env: dict[str, str], warm_factory: Any, scenario: Any, customers: int, known: tuple[str, str],
                     emulator_pid: int = 0) -> dict[str, Any]:
    """One instance at the deploy default's CPU share under CONCURRENCY closed-loop clients: requests/s,
    latency, CPU per request and the instance's memory (PSS of its processes) once warm."""
    defaults = deploy_defaults()
    try:
        with capped_group("capacity", emulator_pid) as cap:
            cap.set_share(defaults["share"])
            server = Server(_capped_env(env, defaults["concurrency"]), WORK_DIR / "server-capacity.log", cli=True, cap=cap).start()
            try:
                server.first_answer("/", None)
                prime(server, known)
                warm = warm_factory(server)
                warm.run(scenario, customers, defaults["concurrency"], seconds=3, record=False)  # warm-up: client, channel
                before = cap.throttled()
                row = warm.run(scenario, customers, defaults["concurrency"], seconds=plan.warm_seconds, record=False, count=plan.warm_max)
                after = cap.throttled()
                pss = tree_pss_mib(server.process.pid) if server.process else float("nan")
            finally:
                server.stop()
    except CgroupUnavailable as why:
        return {"skipped": str(why), "defaults": defaults}
    cpu_ms = row["cpu_per_request_ms"]["function"]
    result = {
        "defaults": defaults, "clients": defaults["concurrency"], "rps": row["rps"], "p50_ms": row["p50_ms"], "p99_ms": row["p99_ms"],
        "cpu_per_request_ms": cpu_ms, "cores_busy": row["cores_busy"]["function"], "non_2xx": row["non_2xx"],
        "throttled_s": round(after[1] - before[1], 2), "memory_pss_mib": round(pss, 1),
        "rps_per_cpu": round(1000 / cpu_ms, 0) if cpu_ms else None, "loadavg_before": row["loadavg_before"],
    }
    log(f"capacity at {defaults['share']:g} vCPU, {defaults['concurrency']} clients: {result['rps']:.0f} req/s, p50 {result['p50_ms']:.1f} ms, "
        f"p99 {result['p99_ms']:.1f} ms, {cpu_ms:.2f} ms CPU a request ({result['rps_per_cpu']:.0f} req/s per CPU-second), "
        f"memory {result['memory_pss_mib']} MiB")
    return result


def measure_ideas(plan: Plan, env: dict[str, str], known: tuple[str, str], emulator_pid: int = 0, idle_s: float = 2.0) -> dict[str, Any]:
    """Each idea in IDEAS against the baseline, alternating starts so load changes hit all alike:
    request-triggered cold start at the default share and two smaller ones, and the first request of
    an instance that started ahead of it (idle_s of idle, throttled, after its port opened)."""
    defaults = deploy_defaults()
    env = _capped_env(env, defaults["concurrency"])
    shares = [defaults["share"], 0.333, 0.167]
    results: dict[str, Any] = {name: {"cold": {}, "idle_first_request": {}} for name in IDEAS}
    try:
        with capped_group("ideas", emulator_pid) as cap:
            for share in shares:
                cap.set_share(share)
                for source in IDEAS.values():
                    cold_start_once(env, cap, source, known)  # bytecode and page cache; not measured
                cold: dict[str, list] = {name: [] for name in IDEAS}
                idle: dict[str, list] = {name: [] for name in IDEAS}
                for _ in range(plan.capped_runs):
                    for name, source in IDEAS.items():
                        cold[name].append(cold_start_once(env, cap, source, known))
                        if share >= 0.333:  # below, the idle wait would have to cover a multi-second boot
                            idle[name].append(idle_first_request_once(env, cap, source, known, idle_s))
                for name in IDEAS:
                    results[name]["cold"][f"{share:g}"] = _summary(cold[name])
                    if idle[name]:
                        results[name]["idle_first_request"][f"{share:g}"] = _summary(idle[name])
                log(f"  ideas at share {share:g}: " + "; ".join(
                    f"{name} cold {results[name]['cold'][f'{share:g}']['median_s']:.3f} s"
                    + (f", idle-started first request {results[name]['idle_first_request'][f'{share:g}']['median_s'] * 1000:.0f} ms"
                       if idle[name] else "") for name in IDEAS))
    except CgroupUnavailable as why:
        log(f"cold-start ideas SKIPPED: {why}")
        return {"skipped": str(why)}
    return results


def capped_verdicts(capped: dict[str, Any]) -> list[tuple[str, float, float, str, bool]]:
    """(target, value, limit, unit, higher_is_better) rows for the report; none when skipped."""
    if "skipped" in capped:
        return []
    defaults = capped["defaults"]
    row = capped["by_share"][f"{defaults['share']:g}"]
    label = f"{Decimal(str(defaults['share'])).normalize()} vCPU (deploy default)"
    return [
        (f"capped cold start, first answer is the name, {label}", float(row["named"] == len(row["runs"])), 1.0, "yes=1", True),
        (f"capped cold start median, {label}", row["median_s"], COLD_START_LIMIT_S, "s", False),
    ]
