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
