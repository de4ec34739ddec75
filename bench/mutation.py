"""`make mutate`: how much of the pure rules the fast tests pin (bench/MUTATION.md).

Runs mutmut (configured in pyproject.toml) on the pure modules against tests/unit only, then prints
one line per module, a summary line, and every surviving and unreached mutant as a diff. Mutants
that cannot change behaviour are listed in EQUIVALENT below, each with the reason, and are
counted apart. Exits 1 when fewer than TARGET of the mutants are killed or a module is not
reached at all, so the number cannot slip unnoticed.
"""

from __future__ import annotations

import argparse
import os
import shutil
import subprocess
import sys
import time
import tomllib
from dataclasses import dataclass, field
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
MUTANTS = ROOT / "mutants"
LOG = ROOT / ".local" / "mutmut-run.log"
TARGET = 0.95

# Mutants no test can kill because the program behaves the same with them. Each entry is the
# mutated function, the mutated line exactly as mutmut shows it, and why it is equivalent. Matched
# by line rather than by mutmut's number, which shifts when the function is edited; an entry that
# matches no survivor is reported, so the list cannot outlive the code it describes.
EQUIVALENT: list[tuple[str, str, str]] = [
    ("handlers.conversation_shapes.x_conversation_add_reply",
     'reply["attributes"] = json.dumps({**attributes, "avatar": card.avatar}, ensure_ascii=None)',
     "json.dumps only tests ensure_ascii for truth: None and False write the same text"),
    ("handlers.conversation_shapes.x_group_members",
     "values: list[Any] = None",
     "both branches below assign values before it is read"),
    ("handlers.conversation_shapes.x_group_members",
     'parsed = ""',
     "like None, \"\" is not a list, so the text is split the same way"),
    ("store.addresses.x_strip_channel_prefix",
     'return _CHANNEL_PREFIX.sub("", address.strip(), ).strip()',
     "the prefix pattern is anchored at ^ (no MULTILINE), so it matches once whatever the count"),
    ("store.addresses.x_strip_channel_prefix",
     'return _CHANNEL_PREFIX.sub("", address.strip(), count=2).strip()',
     "the prefix pattern is anchored at ^ (no MULTILINE), so it matches once whatever the count"),
    ("store.addresses.x__as_document_id",
     'return quote(key, safe="XXXX").replace(".", "%2E").replace("_", "%5F")',
     "a key is lower-cased or E.164 before escaping, so it never holds the upper-case X made safe"),
    ("store.profiles.x__check_channel",
     "if _key_of(value, None) is None:",
     "the region only changes the key of a phone number, never whether there is one: a key is None "
     "only for an empty or over-long value, in any region"),
    ("store.profiles.x__check_channel",
     "if _key_of(value, ) is None:",
     "as above, with address_key's default region"),
    ("store.profiles.x__top",
     'return re.split(r"[.\\[]", path, )[0]',
     "only the part before the first separator is used, however many splits follow"),
    ("store.profiles.x__top",
     'return re.split(r"[.\\[]", path, maxsplit=2)[0]',
     "only the part before the first separator is used, however many splits follow"),
    ("store.profiles.x__name_size",
     'raise InvalidProfile(f"field {path + \'.\' if path else \'\'}{name!r}: names of the form __x__ are reserved by Firestore", _top(path) or str(name) or "XXprofileXX")',
     "a reserved name is non-empty text, so str(name) is never empty and the last fallback is never reached"),
    ("store.profiles.x__name_size",
     'raise InvalidProfile(f"field {path + \'.\' if path else \'\'}{name!r}: names of the form __x__ are reserved by Firestore", _top(path) or str(name) or "PROFILE")',
     "a reserved name is non-empty text, so str(name) is never empty and the last fallback is never reached"),
    ("store.profiles.x_derived_customer_id",
     'return "addr-" + hashlib.sha256(key.encode("UTF-8")).hexdigest()[:20]',
     "codec names are case-insensitive"),
    ("web.signature.x__forwarded_scheme",
     'forwarded = request.headers.get("x-forwarded-proto", "")',
     "werkzeug's Headers (what Flask and functions-framework give) look names up case-insensitively"),
    ("web.signature.x__forwarded_scheme",
     'forwarded = request.headers.get("X-FORWARDED-PROTO", "")',
     "werkzeug's Headers look names up case-insensitively"),
    ("web.signature.x__query_suffix",
     'query = request.query_string.decode("LATIN-1")',
     "codec names are case-insensitive"),
    ("web.signature.x_signed_url_candidates",
     "base = f\"{_forwarded_scheme(request)}://{request.headers.get('host', request.host)}\"",
     "werkzeug's Headers look names up case-insensitively"),
    ("web.signature.x_signed_url_candidates",
     "base = f\"{_forwarded_scheme(request)}://{request.headers.get('HOST', request.host)}\"",
     "werkzeug's Headers look names up case-insensitively"),
    ("web.signature.x_signed_url_candidates",
     'if path in ("XXXX", "/"):',
     "werkzeug's request.path always starts with /, so script_root + path is never empty"),
    ("web.signature.x_is_signed_by_twilio",
     'params_text = signed_params_text(validator, signed_params) if (signed_params) or True else ""',
     "signed_params_text of no parameters is \"\" too: the test only spares building it"),
    ("web.signature.x_is_signed_by_twilio",
     'signature = request.headers.get("X-Twilio-Signature", None)',
     "a missing header is refused by `if not signature` whether it reads as '' or None"),
    ("web.signature.x_is_signed_by_twilio",
     'signature = request.headers.get("X-Twilio-Signature", )',
     "the default default is None: refused by `if not signature` as ''"),
    ("web.signature.x_is_signed_by_twilio",
     'signature = request.headers.get("x-twilio-signature", "")',
     "werkzeug's Headers look names up case-insensitively"),
    ("web.signature.x_is_signed_by_twilio",
     'signature = request.headers.get("X-TWILIO-SIGNATURE", "")',
     "werkzeug's Headers look names up case-insensitively"),
    ("web.signature.x_is_signed_by_twilio",
     'signature = request.headers.get("X-Twilio-Signature", "XXXX")',
     "a missing header then reaches the HMAC check, which refuses 'XXXX' (no HMAC-SHA1 in base64 is "
     "four characters): the answer is the same refusal, only later"),
]


@dataclass
class Module:
    path: str
    statuses: dict[str, str] = field(default_factory=dict)  # mutant name -> status

    def count(self, *statuses: str) -> int:
        return sum(1 for status in self.statuses.values() if status in statuses)


def mutated_paths() -> list[str]:
    with open(ROOT / "pyproject.toml", "rb") as file:
        return tomllib.load(file)["tool"]["mutmut"]["only_mutate"]


def run_mutmut(max_children: int | None) -> float:
    LOG.parent.mkdir(exist_ok=True)
    command = [sys.executable, "-m", "mutmut", "run"]
    if max_children:
        command += ["--max-children", str(max_children)]
    started = time.monotonic()
    with open(LOG, "wb") as log:
        # mutmut draws a progress spinner: it goes to the log, the summary comes after.
        done = subprocess.run(command, cwd=ROOT, stdout=log, stderr=subprocess.STDOUT)
    elapsed = time.monotonic() - started
    if done.returncode != 0:
        tail = LOG.read_bytes()[-3000:].decode("utf-8", "replace")
        sys.exit(f"mutmut run failed (exit {done.returncode}); the end of {LOG.relative_to(ROOT)}:\n{tail}")
    return elapsed


def load_results(paths: list[str]) -> list[Module]:
    from mutmut.mutation.data import SourceFileMutationData
    from mutmut.stats import status_by_exit_code

    modules = []
    for path in paths:
        data = SourceFileMutationData(path=path)
        data.load()
        statuses = {name: status_by_exit_code[code] for name, code in data.exit_code_by_key.items()}
        modules.append(Module(path, {name: "not reached" if status == "no tests" else status for name, status in statuses.items()}))
    return modules


def changed_lines(name: str, path: str) -> tuple[list[str], list[str]]:
    from mutmut.mutation.diff_apply import get_diff_for_mutant

    diff = get_diff_for_mutant(name, path=path).splitlines()
    removed = [line[1:].strip() for line in diff if line.startswith("-") and not line.startswith("---")]
    added = [line[1:].strip() for line in diff if line.startswith("+") and not line.startswith("+++")]
    return removed, added


def function_of(name: str) -> str:
    return name.rpartition("__mutmut_")[0]


def apply_equivalents(modules: list[Module]) -> list[str]:
    """Mark the survivors listed in EQUIVALENT; return warnings about entries that matched none."""
    listed = {(function, line) for function, line, _reason in EQUIVALENT}
    matched = set()
    for module in modules:
        for name, status in module.statuses.items():
            if status != "survived":
                continue
            _removed, added = changed_lines(name, module.path)
            entry = (function_of(name), added[0] if len(added) == 1 else None)
            if entry in listed:
                module.statuses[name] = "equivalent"
                matched.add(entry)
    return [f"EQUIVALENT lists `{line}` in {function}, which no surviving mutant is: remove or update it"
            for function, line in sorted(listed - matched)]


def percent(part: int, whole: int) -> str:
    return f"{100 * part / whole:.1f}%" if whole else "n/a"


def report(modules: list[Module], warnings: list[str], elapsed: float | None) -> bool:
    other_statuses = ("timeout", "suspicious", "segfault", "skipped", "not checked", "caught by type check", "check was interrupted by user")
    print(f"\n{'module':34} {'generated':>9} {'killed':>7} {'survived':>8} {'not reached':>11} {'equivalent':>10} {'other':>5}  killed")
    totals = [0] * 6
    for module in modules:
        row = [len(module.statuses), module.count("killed"), module.count("survived"), module.count("not reached"),
               module.count("equivalent"), module.count(*other_statuses)]
        totals = [a + b for a, b in zip(totals, row)]
        print(f"{module.path:34} {row[0]:9} {row[1]:7} {row[2]:8} {row[3]:11} {row[4]:10} {row[5]:5}  {percent(row[1], row[0])}")
    generated, killed, survived, unreached, equivalent, other = totals

    for module in modules:
        for status in ("survived", "not reached", *other_statuses):
            names = [name for name, s in module.statuses.items() if s == status]
            for name in names:
                removed, added = changed_lines(name, module.path)
                print(f"\n{status}: {name}")
                print("\n".join([f"  - {line}" for line in removed] + [f"  + {line}" for line in added]))
    for warning in warnings:
        print(f"\nWARNING: {warning}")

    unreached_modules = [m.path for m in modules if m.statuses and m.count("not reached") == len(m.statuses)]
    empty = [m.path for m in modules if not m.statuses]
    score = killed / generated if generated else 0.0
    took = f" in {elapsed:.0f} s" if elapsed is not None else ""
    print(f"\nmutation: {generated} generated, {killed} killed, {survived} survived, {unreached} not reached, "
          f"{equivalent} equivalent, {other} other{took}; killed {percent(killed, generated)} of all, "
          f"{percent(killed, generated - equivalent)} of the non-equivalent (target {TARGET:.0%})")
    ok = score >= TARGET and not unreached_modules and not empty
    if unreached_modules:
        print(f"FAIL: no fast test reaches {', '.join(unreached_modules)}")
    if empty:
        print(f"FAIL: no mutants were generated for {', '.join(empty)} (is it under one of pyproject.toml's mutmut source_paths?)")
    if score < TARGET:
        print(f"FAIL: {percent(killed, generated)} of the mutants killed, under the target of {TARGET:.0%}")
    return ok


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--keep", action="store_true", help="reuse mutants/ from the last run (mutmut re-tests only what changed)")
    parser.add_argument("--report-only", action="store_true", help="print the last run's results without running mutmut")
    parser.add_argument("--max-children", type=int, help="parallel mutant runs (mutmut's default: one per CPU)")
    args = parser.parse_args()

    os.chdir(ROOT)  # mutmut reads pyproject.toml and writes mutants/ in the working directory
    elapsed = None
    if not args.report_only:
        if not args.keep:
            shutil.rmtree(MUTANTS, ignore_errors=True)
        print(f"mutmut on {len(mutated_paths())} modules against tests/unit; progress in {LOG.relative_to(ROOT)}", flush=True)
        elapsed = run_mutmut(args.max_children)
    modules = load_results(mutated_paths())
    warnings = apply_equivalents(modules)
    sys.exit(0 if report(modules, warnings, elapsed) else 1)


if __name__ == "__main__":
    main()
