"""Customer data in and out of Firestore, always through the store's own write path.

    python -m tools.customers import FILE [--format csv|json|jsonl] [--dry-run] [--skip-invalid]
    python -m tools.customers export FILE [--format csv|json|jsonl]     (FILE "-" writes to stdout)
    python -m tools.customers check [--fix]

Needs only the Firestore settings (GOOGLE_CLOUD_PROJECT, FIRESTORE_EMULATOR_HOST locally,
CUSTOMERS_COLLECTION, DEFAULT_REGION), never Twilio credentials. Exit status: 0 done,
1 bad rows or problems left, 2 a file or setting that cannot be used at all.
"""

from __future__ import annotations

import argparse
import io
import json
import sys
from collections.abc import Iterable
from dataclasses import dataclass, field
from pathlib import Path
from typing import TextIO

from runtime.config import ConfigError
from store.audit import Audit, audit
from store.customers import AddressConflict, AddressConflicts, CustomerStore, UpsertResult, admin_store
from store.profiles import BatchClaims, InvalidProfile, customer_id_of, derived_customer_id, validate_profile
from tools.customer_files import FORMATS, FileError, Row, format_of, read_rows, record_of, write_records

OUTCOMES = ("created", "updated", "unchanged")


@dataclass(frozen=True)
class RowProblem:
    line: int
    reason: str


@dataclass(frozen=True)
class CheckedRow:
    line: int
    customer_id: str
    profile: dict


@dataclass
class ImportReport:
    problems: list[RowProblem] = field(default_factory=list)
    results: list[UpsertResult] = field(default_factory=list)
    dry_run: bool = False

    def count(self, outcome: str) -> int:
        return sum(1 for result in self.results if result.outcome == outcome)

    @property
    def skipped(self) -> int:
        return len({problem.line for problem in self.problems})

    def summary(self) -> str:
        counts = ", ".join(f"{outcome} {self.count(outcome)}" for outcome in OUTCOMES)
        prefix = "dry run, nothing written; would be: " if self.dry_run else ""
        return f"{prefix}{counts}, skipped {self.skipped}"


# --- import -------------------------------------------------------------------------------------

def _given(value: object) -> bool:
    return value is not None and str(value).strip() != ""


def check_rows(rows: Iterable[Row], default_region: str) -> tuple[list[CheckedRow], list[RowProblem]]:
    """Every row judged by the store's own rules, plus the in-file ones: one id, one owner per address."""
    claims = BatchClaims(default_region)
    checked: list[CheckedRow] = []
    problems: list[RowProblem] = []
    for row in rows:
        if row.record is None:  # a row is a record or an error
            problems.append(RowProblem(row.line, row.error or "no record"))
            continue
        try:
            clean = validate_profile(row.record, default_region)
            raw_id = row.record.get("customer_id")
            customer_id = customer_id_of(raw_id) if _given(raw_id) else derived_customer_id(clean, default_region)
            claims.claim(f"line {row.line}", customer_id, clean)
        except InvalidProfile as error:
            problems.append(RowProblem(row.line, str(error)))
            continue
        checked.append(CheckedRow(row.line, customer_id, clean))
    return checked, problems


class Progress:
    """A one-line bar on stderr, only when a person is watching (never in logs or pipes)."""

    def __init__(self, stream: TextIO, width: int = 30) -> None:
        self._stream, self._width = stream, width
        self._on = stream.isatty()
        self._drawn = False

    def update(self, stage: str, done: int, total: int) -> None:
        if self._on and total:
            filled = self._width * done // total
            self._stream.write(f"\r{stage:<8} [{'#' * filled}{'.' * (self._width - filled)}] {done}/{total}")
            self._stream.flush()
            self._drawn = True

    def close(self) -> None:
        if self._drawn:
            self._stream.write("\n")
            self._drawn = False


def _upsert(store: CustomerStore, rows: list[CheckedRow], dry_run: bool,
            progress: Progress) -> tuple[list[UpsertResult], list[RowProblem]]:
    """Upsert (or preview) the rows; an address another customer owns in Firestore becomes a row problem."""
    try:
        return store.upsert_many([(row.customer_id, row.profile) for row in rows], dry_run=dry_run, on_progress=progress.update), []
    except AddressConflicts as raised:
        line_of = {row.customer_id: row.line for row in rows}
        problems: dict[int, RowProblem] = {}
        for conflict in raised.conflicts:
            line = line_of[conflict.claimant_id]
            problems.setdefault(line, RowProblem(line, f"address {conflict.address} already belongs to customer {conflict.owner_id!r} "
                                                       f"in Firestore; this row is customer {conflict.claimant_id!r}"))
        return [], list(problems.values())
    finally:
        progress.close()


def import_file(path: Path, *, fmt: str | None = None, dry_run: bool = False, skip_invalid: bool = False,
                store: CustomerStore | None = None, out: TextIO | None = None, err: TextIO | None = None) -> ImportReport:
    """Validate every row (file rules, store rules, Firestore owners), then upsert the good ones.

    With a bad row and no skip_invalid, Firestore is only read, to report every conflict as well.
    """
    # Streams resolved per call, not as defaults, so a redirected sys.stdout (tests, wrappers) is honoured.
    store, out, err = store or admin_store(), out or sys.stdout, err or sys.stderr
    rows = read_rows(path, format_of(path, fmt))
    checked, problems = check_rows(rows, store.default_region)
    writing = skip_invalid or not problems
    progress = Progress(err)
    results, conflicts = _upsert(store, checked, dry_run or not writing, progress)
    if conflicts:
        writing = skip_invalid
        if skip_invalid:
            # upsert_many wrote nothing when it found the conflicts: write the rows without them.
            conflicted = {problem.line for problem in conflicts}
            results, _ = _upsert(store, [row for row in checked if row.line not in conflicted], dry_run, progress)
    report = ImportReport(sorted(problems + conflicts, key=lambda problem: problem.line), dry_run=dry_run)
    for problem in report.problems:
        print(f"{path}:{problem.line}: {problem.reason}", file=err)
    if not writing:
        print(f"nothing written: {report.skipped} bad row(s); fix them, or pass --skip-invalid to import the others", file=err)
        return report
    report.results = results
    if dry_run:
        _print_changes(results, out)
    print(report.summary(), file=out)
    return report


def _print_changes(results: list[UpsertResult], out: TextIO) -> None:
    for result in results:
        if result.outcome == "created":
            print(f"would create {result.customer_id}", file=out)
        elif result.outcome == "updated":
            print(f"would update {result.customer_id}: {', '.join(result.changed)}", file=out)


# --- export and check ---------------------------------------------------------------------------

def export_file(target: str, fmt: str | None = None, store: CustomerStore | None = None, out: TextIO | None = None) -> int:
    """Every stored profile, by id, in a file that `import` reads back to the same data."""
    store, out = store or admin_store(), out or sys.stdout
    fmt = fmt or ("json" if target == "-" else format_of(Path(target), None))
    buffer = io.StringIO()
    # Built whole before the file is opened, so a record CSV cannot hold leaves no half-written file.
    count = write_records(buffer, fmt, (record_of(cid, profile) for cid, profile in store.profiles()))
    if target == "-":
        out.write(buffer.getvalue())
    else:
        Path(target).write_text(buffer.getvalue(), encoding="utf-8", newline="")
        print(f"exported {count} customer(s) to {target}", file=out)
    return count


def _audit(store: CustomerStore) -> Audit:
    return audit(dict(store.profiles()), dict(store.index_entries()), store.default_region)


def run_check(fix: bool = False, store: CustomerStore | None = None, out: TextIO | None = None) -> int:
    """Report index/profile disagreements; with fix, repair the safe ones. Non-zero while any remain."""
    store, out = store or admin_store(), out or sys.stdout
    found = _audit(store)
    for problem in found.problems:
        print(f"{problem.kind}: {problem.message}", file=out)
    if fix and found.repair.writes:
        writes = store.apply_repair(found.repair)
        print(f"fixed: {writes} write(s) rebuilt the index from the customer profiles", file=out)
        found = _audit(store)
        for problem in found.problems:
            print(f"left for you: {problem.kind}: {problem.message}", file=out)
    if not found.problems:
        print("ok: every index entry matches its customer profile", file=out)
        return 0
    fixable = sum(problem.fixable for problem in found.problems)
    hint = f"; {fixable} can be repaired with --fix" if fixable and not fix else ""
    print(f"{len(found.problems)} problem(s){hint}", file=out)
    return 1


# --- make run ------------------------------------------------------------------------------------

def import_frontline_samples(workers_path: Path, templates_path: Path) -> tuple[int, int]:
    """Workers (their own proxy numbers) and template categories for the Frontline callbacks."""
    from runtime.config import store_settings
    from store.client import firestore_client
    from store.directory import save_template_category, save_worker

    db = firestore_client(store_settings().project)
    workers = json.loads(workers_path.read_text(encoding="utf-8"))
    categories = json.loads(templates_path.read_text(encoding="utf-8"))
    for worker in workers:
        save_worker(db, worker["identity"], worker)
    for category in categories:
        save_template_category(db, category["id"], category)
    return len(workers), len(categories)


# --- command line --------------------------------------------------------------------------------

def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="python -m tools.customers", description=__doc__.splitlines()[0])
    commands = parser.add_subparsers(dest="command", required=True)
    load = commands.add_parser("import", help="validate every row, then upsert customers from CSV, JSON or JSON lines")
    load.add_argument("file", type=Path)
    load.add_argument("--format", choices=FORMATS, help="instead of guessing from the extension")
    load.add_argument("--dry-run", action="store_true", help="report what would change; write nothing")
    load.add_argument("--skip-invalid", action="store_true", help="import the good rows even when some are bad")
    dump = commands.add_parser("export", help="write every customer to CSV, JSON or JSON lines")
    dump.add_argument("file", help='a path, or "-" for stdout')
    dump.add_argument("--format", choices=FORMATS)
    check = commands.add_parser("check", help="compare the address index with the customer profiles")
    check.add_argument("--fix", action="store_true", help="rebuild missing/stale entries, delete orphans")
    return parser


def main(argv: list[str] | None = None) -> int:
    args = _parser().parse_args(argv)
    try:
        if args.command == "import":
            report = import_file(args.file, fmt=args.format, dry_run=args.dry_run, skip_invalid=args.skip_invalid)
            return 1 if report.problems and not args.skip_invalid else 0
        if args.command == "export":
            export_file(args.file, args.format)
            return 0
        return run_check(args.fix)
    except (FileError, ConfigError, OSError) as error:
        print(f"error: {error}", file=sys.stderr)
        return 2
    except (AddressConflict, AddressConflicts, InvalidProfile) as error:
        # Only reachable when another writer changed Firestore after the rows were checked.
        print(f"stopped: {error}; commits before it stay, run the import again", file=sys.stderr)
        return 1
    except Exception as error:
        if not type(error).__module__.startswith("google."):
            raise
        # A refusal no check here foresaw, or Firestore unreachable: its type, not a traceback.
        print(f"stopped: Firestore refused or failed a call ({type(error).__name__}: {str(error)[:200]}); "
              "commits before it stay", file=sys.stderr)
        return 1


if __name__ == "__main__":
    sys.exit(main())
