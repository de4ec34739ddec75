"""The customers the bench loads: a base through the store's own write path, the bulk in batches."""

from __future__ import annotations

import time
from concurrent.futures import ThreadPoolExecutor
from typing import Any

from bench.common import BASE_CUSTOMERS, WORKERS

# --- customers --------------------------------------------------------------------------------

def base_profile(n: int) -> dict[str, Any]:
    return {
        "display_name": f"Base Customer {n:03d}",
        "avatar": f"https://avatars.example.com/base-{n}.png",
        "channels": [{"type": "sms", "value": f"+1555{n:07d}"}],
        "worker": WORKERS[0] if n < 60 else WORKERS[1],
    }


def bulk_profile(n: int) -> dict[str, Any]:
    return {
        "display_name": f"Customer {n:06d}",
        "avatar": f"https://avatars.example.com/{n}.png",
        "channels": [{"type": "sms", "value": f"+1202{n:07d}"}],
        "worker": f"worker-{n % 50}@example.com",
    }


def customer_address(n: int) -> tuple[str, str]:
    """(address, display_name) of customer number n, as loaded by seed_base / load_bulk."""
    profile = base_profile(n) if n < BASE_CUSTOMERS else bulk_profile(n)
    return profile["channels"][0]["value"], profile["display_name"]


def unknown_address(n: int) -> str:
    return f"+1303{n:07d}"


def seed_base(db: Any) -> None:
    """The first customers go through the store's own write path (one transaction each)."""
    from store.customers import CustomerStore

    store = CustomerStore(db, "customers", "US")
    with ThreadPoolExecutor(max_workers=4) as pool:
        list(pool.map(lambda n: store.upsert(f"cust-{n:03d}", base_profile(n)), range(BASE_CUSTOMERS)))


def load_bulk(db: Any, start: int, stop: int) -> float:
    """Customers [start, stop): each profile and its index entry, 500 writes a batch, 4 batches in flight.

    The documents are exactly what CustomerStore.upsert writes (validate_profile, card_of,
    index_keys), without its per-customer transaction, which would take minutes at 100,000.
    """
    from store.collections import ADDRESS_INDEX_COLLECTION
    from store.profiles import card_of, index_keys, validate_profile

    customers, index = db.collection("customers"), db.collection(ADDRESS_INDEX_COLLECTION)
    per_batch = 250  # a profile + its one index entry each: 500 writes, Firestore's limit per commit

    def commit(first: int) -> None:
        batch = db.batch()
        for n in range(first, min(first + per_batch, stop)):
            customer_id = f"bulk-{n:06d}"
            clean = validate_profile(bulk_profile(n), "US")
            batch.set(customers.document(customer_id), clean)
            for key in index_keys(clean, "US"):
                batch.set(index.document(key), card_of(customer_id, clean).as_index_document())
        batch.commit()

    started = time.perf_counter()
    with ThreadPoolExecutor(max_workers=4) as pool:
        list(pool.map(commit, range(start, stop, per_batch)))
    return time.perf_counter() - started


