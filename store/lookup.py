"""The webhooks' read path: an address to its customer card, in one document get.

Every call takes the request's deadline and fails as `StoreUnavailable`, so a handler can
fall back without knowing anything about Firestore.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from runtime.config import store_settings
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
