"""The webhooks' read path: an address to its customer card, in at most one document read.

`find_customer` answers from this instance's cache (store/cache.py) when it can, else with
one unary `GetDocument` on the index (store/reader.py). Every call takes the request's
deadline and fails as `StoreUnavailable`, so a handler can fall back without knowing anything
about Firestore. `card_for_address` is the same read through google-cloud-firestore's client,
uncached, for the Frontline callbacks and the tools, which hold that client anyway.
"""

from __future__ import annotations

import contextvars
from collections.abc import Iterable
from concurrent.futures import ThreadPoolExecutor, wait
from dataclasses import dataclass, field
from typing import TYPE_CHECKING

from runtime.config import StoreSettings, store_settings
from runtime.errors import StoreUnavailable
from store.addresses import address_key
from store.cache import CardCache
from store.client import call_options, emulator_host, forget_instances, once_per_instance, store_errors
from store.collections import ADDRESS_INDEX_COLLECTION
from store.profiles import CustomerCard
from store.reader import document_reader

if TYPE_CHECKING:
    from collections.abc import Callable, Mapping
    from typing import Any

    from google.cloud.firestore import Client

    from runtime.deadline import Deadline
    from store.reader import DocumentReader


def _card_at(db: Client, key: str, deadline: Deadline | None) -> CustomerCard | None:
    with store_errors("customer lookup", deadline):
        snapshot = db.collection(ADDRESS_INDEX_COLLECTION).document(key).get(**call_options(deadline))
    return _card_of(snapshot.to_dict()) if snapshot.exists else None


def _card_of(entry: Mapping[str, Any] | None) -> CustomerCard:
    """The card an existing index entry holds; one without a customer_id (edited by hand) is a failed read."""
    if not entry or entry.get("customer_id") in (None, ""):
        # Failing, not "nobody": the caller falls back and logs it, so the operator learns of the entry.
        raise StoreUnavailable("customer lookup failed: an index entry without customer_id")
    return CustomerCard.from_index_document(entry)


def card_for_address(db: Client, address: str, default_region: str, deadline: Deadline | None = None) -> CustomerCard | None:
    """One index get through `db`, uncached; None for an address nobody owns or that cannot be a key."""
    key = address_key(address, default_region)
    return None if key is None else _card_at(db, key, deadline)


def read_card(reader: DocumentReader, key: str, deadline: Deadline) -> CustomerCard | None:
    """The index entry at `key`: one GetDocument."""
    fields = reader.scalar_fields(f"{ADDRESS_INDEX_COLLECTION}/{key}", deadline, "customer lookup")
    return None if fields is None else _card_of(fields)


def profile_cache(current: StoreSettings) -> CardCache | None:
    """This instance's cache of index entries; None when PROFILE_CACHE_TTL_S is 0."""
    ttl = current.profile_cache_ttl_s
    if ttl <= 0:
        return None
    # Keyed by everything a cached answer depends on: a test or a local run that changes one starts afresh.
    key = ("cache", current.project, emulator_host(), current.default_region, repr(ttl))
    return once_per_instance(key, lambda: CardCache(ttl))


def forget_cached_profiles() -> None:
    """Empty this instance's cache: the next lookup of every address reads Firestore."""
    forget_instances("cache")


def lookup_card(address: str, default_region: str, reader: Callable[[], DocumentReader], cache: CardCache | None,
                deadline: Deadline) -> CustomerCard | None:
    """The card for `address`: from `cache` when it holds the address, else one GetDocument through `reader()`.

    The cache is keyed by the address as Twilio sent it (the pre- and post-event carry the same
    string), so a hit skips the phone number parsing too. `reader` is called only when a read is
    needed: a cache hit or an address with no key never creates a client.
    """
    hit = cache.get(address) if cache is not None else None
    if hit is not None:
        return hit.card
    key = address_key(address, default_region)
    if key is None:
        return None
    if cache is None:
        return read_card(reader(), key, deadline)
    read_at = cache.timer()
    card = read_card(reader(), key, deadline)
    cache.put(address, card, read_at)
    return card


def find_customer(address: str, deadline: Deadline) -> CustomerCard | None:
    """The customer owning `address`, read within `deadline` (StoreUnavailable when it cannot be)."""
    current = store_settings()
    return lookup_card(address, current.default_region, lambda: document_reader(current.project, deadline),
                       profile_cache(current), deadline)


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
