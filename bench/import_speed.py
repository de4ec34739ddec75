"""How much the customer data tool costs over a bare write: 10,000 customers into the Firestore emulator.

    .venv/bin/python -m bench.import_speed [--count 10000]

Times, in one run against one freshly started emulator:
  plain       db.batch() of 500 `set`s of the same (already validated) customer documents:
              no validation, no address index, no reads; the floor for getting the data in
  tool        `tools.customers import FILE` as a user runs it: parse the CSV, validate every row,
              check every address against Firestore, then upsert_many (a transaction per commit
              reading the stored profiles and index entries, writing profiles + index entries)
  re-import   the same file again: every row compared and found unchanged, nothing written
Not run by `make test`; the numbers depend on the machine and are for the ratio.
"""

from __future__ import annotations

import argparse
import csv
import io
import os
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from store.profiles import validate_profile  # noqa: E402
from tools.customer_files import CSV_COLUMNS, read_rows  # noqa: E402
from tools.emulator import Emulator  # noqa: E402

PROJECT = "demo-bench-import"


def write_customers_csv(path: Path, count: int) -> None:
    with open(path, "w", newline="", encoding="utf-8") as out:
        writer = csv.DictWriter(out, fieldnames=CSV_COLUMNS)
        writer.writeheader()
        for n in range(count):
            writer.writerow({
                "customer_id": f"bench-{n:06d}", "display_name": f"Customer {n}", "worker": f"worker{n % 20}@example.com",
                "avatar": f"https://avatars.example.com/{n}.png", "sms": f"+1555{1000000 + n:07d}",
                "email": f"customer{n}@example.com" if n % 2 else "",
                "details": '{"title": "Notes", "content": "bench"}',
            })


def plain_batched_write(db, documents: list[tuple[str, dict]]) -> None:
    for start in range(0, len(documents), 500):
        batch = db.batch()
        for customer_id, document in documents[start:start + 500]:
            batch.set(db.collection("customers").document(customer_id), document)
        batch.commit()


def timed(action) -> float:
    started = time.perf_counter()
    action()
    return time.perf_counter() - started


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--count", type=int, default=10_000)
    count = parser.parse_args().count
    with tempfile.TemporaryDirectory() as scratch, Emulator(PROJECT, host_port=f"127.0.0.1:{_free_port()}") as emulator:
        os.environ.update(FIRESTORE_EMULATOR_HOST=emulator.host_port, GOOGLE_CLOUD_PROJECT=PROJECT)
        from store.client import firestore_client
        from tools.customers import import_file

        db = firestore_client(PROJECT)
        path = Path(scratch) / "customers.csv"
        write_customers_csv(path, count)
        documents = [(row.record["customer_id"], validate_profile(row.record, "US")) for row in read_rows(path, "csv")]
        # A JVM warms up: give both contenders the same warm emulator.
        plain_batched_write(db, documents[:1000])
        emulator.clear()

        plain = timed(lambda: plain_batched_write(db, documents))
        emulator.clear()
        tool = timed(lambda: import_file(path, out=io.StringIO()))
        again = timed(lambda: import_file(path, out=io.StringIO()))
        indexed = sum(1 for _ in db.collection("customer_addresses").stream())

    print(f"{count} customers, {indexed} index entries, emulator on 127.0.0.1")
    print(f"plain batched write : {plain:6.2f} s  ({count / plain:7.0f} customers/s)")
    print(f"tools.customers     : {tool:6.2f} s  ({count / tool:7.0f} customers/s)  {tool / plain:.1f}x plain")
    print(f"re-import, unchanged: {again:6.2f} s  ({count / again:7.0f} customers/s)  {again / plain:.1f}x plain")
    return 0


def _free_port() -> int:
    from tools.emulator import free_port

    return free_port()


if __name__ == "__main__":
    sys.exit(main())
