"""The verdicts, the printed report and bench/latency.png."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from bench.capped import capped_verdicts
from bench.common import GUNICORN_THREADS, LATENCY_PNG, RESULTS_JSON, ROOT, TARGETS, Plan

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
    deferred = not imports["imported_with_main"]["twilio.rest"]
    targets = [
        ("cold start, median of fresh processes", results["cold_start"]["median_s"], TARGETS["cold_start_s"], "s", False),
        ("import of main, Firestore library aside (flask imported)", imports["main_ms"], TARGETS["import_main_ms"], "ms", False),
        ("  ...with Twilio REST deferred", 1.0 if deferred else 0.0, 1.0, "yes=1", True),
        (f"onConversationAdd overhead p50, {smallest} customers", overhead[smallest]["overhead_ms"], TARGETS["overhead_ms"], "ms", False),
        (f"onConversationAdd overhead p50, {largest} customers", overhead[largest]["overhead_ms"], TARGETS["overhead_ms"], "ms", False),
        (f"onConversationAdd p99, 16 clients, {smallest} customers", warm("conv_add_known", smallest, 16)["p99_ms"], TARGETS["p99_16_ms"], "ms", False),
        (f"onConversationAdd p99, 16 clients, {largest} customers", warm("conv_add_known", largest, 16)["p99_ms"], TARGETS["p99_16_ms"], "ms", False),
        (f"lookup growth p50 {largest}/{smallest}", results["growth"]["ratio_p50"], TARGETS["growth_ratio"], "x", False),
        (f"onConversationAdd sequential p50, {largest} customers", warm("conv_add_known", largest, 1)["p50_ms"], TARGETS["seq_p50_100k_ms"], "ms", False),
        (f"onConversationAdd req/s, 16 clients, {largest} customers", warm("conv_add_known", largest, 16)["rps"], TARGETS["rps_16_100k"], "req/s", True),
    ]
    targets += capped_verdicts(results.get("capped", {"skipped": "not run"}))
    return _verdicts(targets)


def evaluate_capped(results: dict[str, Any]) -> list[dict[str, Any]]:
    """The verdicts of `--capped-only`."""
    return _verdicts(capped_verdicts(results["capped"]))


def _verdicts(targets: Sequence[tuple[str, float, float, str, bool]]) -> list[dict[str, Any]]:
    return [{"target": name, "value": value, "limit": limit, "unit": unit, "higher_is_better": higher,
             "pass": verdict(value, limit, higher)} for name, value, limit, unit, higher in targets]


def print_targets(targets: Sequence[dict[str, Any]]) -> None:
    print(f"\n{'target':<58}{'value':>10}  {'limit':<14}result")
    for t in targets:
        limit = f"{'>=' if t['higher_is_better'] else '<='} {t['limit']:g} {t['unit']}"
        value = ("yes" if t["value"] else "no") if t["unit"] == "yes=1" else f"{t['value']:g}"
        print(f"{t['target']:<58}{value:>10}  {limit if t['unit'] != 'yes=1' else '':<14}{'PASS' if t['pass'] else 'FAIL'}")


def print_capped(results: dict[str, Any]) -> None:
    """The cold start under CPU caps, one capped instance's capacity, and the cold-start ideas."""
    capped = results.get("capped", {})
    if "skipped" in capped:
        print(f"\nCapped cold start: SKIPPED ({capped['skipped']})")
    elif capped:
        defaults = capped["defaults"]
        print(f"\nCold start under a CPU cap (cgroup {capped['cgroup']}; functions-framework CLI, THREADS={defaults['concurrency']}; "
              "process start -> answer to a signed onConversationAdd for a known customer; emulator outside the cap):")
        print(f"{'vCPU share':>10}{'median s':>10}{'min s':>8}{'max s':>8}{'CPU s':>8}  {'named':<7}{'< 5 s':<7}answers")
        for share, row in capped["by_share"].items():
            mark = "  <- deploy default" if float(share) == defaults["share"] else ""
            print(f"{share:>10}{row['median_s']:>10.2f}{row['min_s']:>8.2f}{row['max_s']:>8.2f}{row['cpu_median_s']:>8.2f}  "
                  f"{row['named']}/{len(row['runs']):<5}{row.get('named_in_time', 0)}/{len(row['runs']):<5}{', '.join(r['answer'] for r in row['runs'])}{mark}")
    capacity = results.get("capacity", {})
    if capacity and "skipped" not in capacity:
        d = capacity["defaults"]
        print(f"\nOne instance at {d['share']:g} vCPU ({d['memory']}), {capacity['clients']} closed-loop clients, onConversationAdd for "
              f"known customers: {capacity['rps']:.0f} req/s, p50 {capacity['p50_ms']:.1f} ms, p99 {capacity['p99_ms']:.1f} ms, "
              f"{capacity['cpu_per_request_ms']:.2f} ms of CPU a request (= {capacity['rps_per_cpu']:.0f} req/s per CPU-second), "
              f"{capacity['cores_busy']} cores busy, memory (PSS) {capacity['memory_pss_mib']} MiB, throttled {capacity['throttled_s']} s")
    ideas = results.get("ideas", {})
    if ideas and "skipped" not in ideas:
        print("\nCold-start ideas (median s, named/runs): request-triggered cold start | first request of an instance started ahead of it")
        for name, rows in ideas.items():
            cold = ", ".join(f"{share}: {r['median_s']:.3f} s {r['named']}/{len(r['runs'])}" for share, r in rows["cold"].items())
            idle = ", ".join(f"{share}: {r['median_s'] * 1000:.0f} ms" for share, r in rows["idle_first_request"].items())
            print(f"  {name:<16} {cold} | {idle}")
    if "targets" in results and "warm" not in results:
        print_targets(results["targets"])


def print_report(results: dict[str, Any]) -> None:
    m = results["machine"]
    print()
    print(f"Machine: {m['nproc']} CPUs, {m['cpu_model']}, {m['memory_gib']} GiB; Python {m['python']}; "
          f"load average at start {m['loadavg_at_start'][0]:.2f}, at end {results['loadavg_at_end'][0]:.2f}")
    imports = results["import"]
    print(f"\nImport of main, flask imported first: median {imports['main_ms']} ms of our own over {len(imports['runs_ms'])} runs "
          f"{imports['runs_ms']}, plus {imports.get('library_ms', 0)} ms for google-cloud-firestore, which main imports before the fork")
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
          f"{rpc['document_get_stream']['wall_ms']} ms wall; unary GetDocument (store.reader) {rpc['store_reader_get_document']['cpu_ms']} ms CPU, "
          f"{rpc['store_reader_get_document']['wall_ms']} ms wall (medians of 3 alternating rounds)")
    print("Thread-pool hop around the same lookup (p50, ms): " + ", ".join(
        f"{b['customers']} customers +{b['thread_pool_hop_p50_ms']:.3f}" for b in results["bare_lookup"]))
    print("\nOverhead (webhook p50 at 1 client - bare lookup p50): " + ", ".join(
        f"{o['customers']} customers {o['overhead_ms']:.2f} ms" for o in results["overhead"]))
    growth = results["growth"]
    print("Growth (bare lookup p50): " + ", ".join(f"{s}: {p} ms" for s, p in zip(growth["sizes"], growth["p50_ms"]))
          + f"; ratio {growth['ratio_p50']}; loading took " + ", ".join(f"{k}: {v} s" for k, v in growth["load_s"].items()))
    print("(fn CPU: the function's CPU milliseconds per request, gunicorn worker and all its threads)")
    print_capped(results)
    print_targets(results["targets"])
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


