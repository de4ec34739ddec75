"""The webhooks' read path: an address to its customer card, in one document get.

Every call takes the request's deadline and fails as `StoreUnavailable`, so a handler can
fall back without knowing anything about Firestore.
"""

from __future__ import annotations

import contextvars
from collections.abc import Iterable
from concurrent.futures import ThreadPoolExecutor, wait
from dataclasses import dataclass, field
from typing import TYPE_CHECKING

from runtime.config import store_settings
from runtime.errors import StoreUnavailable
from store.addresses import address_key
from store.client import call_options, firestore_client, store_errors
from store.collections import ADDRESS_INDEX_COLLECTION
from store.profiles import CustomerCard

if TYPE_CHECKING:
    from google.cloud.firestore import Client

    from runtime.deadline import Deadline


def _card_at(db: Client, key: str, deadline: Deadline | None) -> CustomerCard | None:
    with store_errors("customer lookup", deadline):
        snapshot = db.collection(ADDRESS_INDEX_COLLECTION).document(key).get(**call_options(deadline))
    return CustomerCard.from_index_document(snapshot.to_dict() or {}) if snapshot.exists else None


def card_for_address(db: Client, address: str, default_region: str, deadline: Deadline | None = None) -> CustomerCard | None:
    """One index get; None for an address nobody owns or that cannot be a key."""
    key = address_key(address, default_region)
    return None if key is None else _card_at(db, key, deadline)


def find_customer(address: str, deadline: Deadline) -> CustomerCard | None:
    """The customer owning `address`, read within `deadline` (StoreUnavailable when it cannot be)."""
    current = store_settings()
    key = address_key(address, current.default_region)
    if key is None:
        return None  # nothing to read, so no client to create
    return _card_at(firestore_client(current.project, deadline), key, deadline)


@dataclass(frozen=True)
class Lookups:
    """Answers for several addresses: `cards` for each one answered (None: nobody owns it), `failures` for the rest."""

    cards: dict[str, CustomerCard | None] = field(default_factory=dict)
    failures: dict[str, StoreUnavailable] = field(default_factory=dict)


# Group MMS has at most 10 participants; more threads than that would only wait on one gRPC channel.
_LOOKUP_THREADS = 10
_lookup_pool = ThreadPoolExecutor(max_workers=_LOOKUP_THREADS, thread_name_prefix="customer-lookup")


def find_customers(addresses: Iterable[str], deadline: Deadline) -> Lookups:
    """`find_customer` for each distinct address, all at once, so several cost about one read's time.

    Built on `find_customer` (whatever its read path is); an address not answered by the
    deadline is a failure like any other StoreUnavailable, never a wait past it.
    """
    distinct = list(dict.fromkeys(addresses))
    futures = {address: _lookup_pool.submit(contextvars.copy_context().run, find_customer, address, deadline) for address in distinct}
    wait(futures.values(), timeout=deadline.remaining())
    found = Lookups()
    for address, future in futures.items():
        if not future.done():
            future.cancel()
            found.failures[address] = StoreUnavailable(f"customer lookup took longer than the {deadline.seconds:.2f}s deadline")
            continue
        error = future.exception()
        if error is None:
            found.cards[address] = future.result()
        else:
            # One bad lookup (Firestore, or an index entry edited by hand into another shape) must
            # not cost the others their answer; the caller logs the reason.
            found.failures[address] = error if isinstance(error, StoreUnavailable) else \
                StoreUnavailable(f"customer lookup failed: {type(error).__name__}")
    return found
