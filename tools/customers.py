"""Load customer profiles through the store's own write path, so the address index is always right.

    python -m tools.customers import samples/customers.json
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

from store.customers import default_store


def import_json(path: Path) -> int:
    rows = json.loads(path.read_text(encoding="utf-8"))
    store = default_store()
    for row in rows:
        store.upsert(row["customer_id"], row)
    return len(rows)


def import_frontline_samples(workers_path: Path, templates_path: Path) -> tuple[int, int]:
    """Workers (their own proxy numbers) and template categories for the Frontline callbacks."""
    from runtime.config import settings
    from store.client import firestore_client
    from store.directory import save_template_category, save_worker

    db = firestore_client(settings().project)
    workers = json.loads(workers_path.read_text(encoding="utf-8"))
    categories = json.loads(templates_path.read_text(encoding="utf-8"))
    for worker in workers:
        save_worker(db, worker["identity"], worker)
    for category in categories:
        save_template_category(db, category["id"], category)
    return len(workers), len(categories)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m tools.customers", description=__doc__.splitlines()[0])
    commands = parser.add_subparsers(dest="command", required=True)
    load = commands.add_parser("import", help="upsert every customer in a JSON array file")
    load.add_argument("file", type=Path)
    args = parser.parse_args(argv)
    if args.command == "import":
        count = import_json(args.file)
        print(f"imported {count} customer(s) from {args.file}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
