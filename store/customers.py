"""Customer profiles and their address index, always written together.

A webhook reads exactly one `customer_addresses/{key}` document, so its cost does not grow
with the customer base; every write goes through a transaction here so that index never
disagrees with `customers`.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import TYPE_CHECKING, Any

from runtime.config import ADDRESS_INDEX_COLLECTION
from store.addresses import address_key
from store.profiles import CustomerCard, card_of, customer_id_of, index_keys, validate_profile

if TYPE_CHECKING:
    from google.cloud.firestore import Client, Transaction


class AddressConflict(ValueError):
    """An address that already belongs to another customer."""

    def __init__(self, address: str, owner_id: str, claimant_id: str) -> None:
        super().__init__(f"address {address} already belongs to customer {owner_id}; customer {claimant_id} cannot claim it")
        self.owner_id = owner_id
        self.claimant_id = claimant_id


class CustomerStore:
    def __init__(self, db: Client, customers_collection: str = "customers", default_region: str = "US") -> None:
        self._db = db
        self._customers = customers_collection
        self._region = default_region

    def _customer_ref(self, customer_id: str):
        return self._db.collection(self._customers).document(customer_id)

    def _index_ref(self, key: str):
        return self._db.collection(ADDRESS_INDEX_COLLECTION).document(key)

    def find_by_address(self, address: str, timeout: float | None = None) -> CustomerCard | None:
        """One document get; None for an address nobody owns or that cannot be a key."""
        key = address_key(address, self._region)
        if key is None:
            return None
        snapshot = self._index_ref(key).get(timeout=timeout, retry=None)
        if not snapshot.exists:
            return None
        return CustomerCard.from_index_document(snapshot.to_dict())

    def get(self, customer_id: str) -> dict[str, Any] | None:
        snapshot = self._customer_ref(customer_id_of(customer_id)).get()
        return snapshot.to_dict() if snapshot.exists else None

    def upsert(self, customer_id: Any, profile: Mapping[str, Any]) -> str:
        """Write a profile and make the index match its channels; returns the stored id."""
        from google.cloud import firestore

        cid = customer_id_of(customer_id)
        clean = validate_profile(profile, self._region)

        @firestore.transactional
        def write(transaction: Transaction) -> None:
            old = self._customer_ref(cid).get(transaction=transaction)
            old_keys = index_keys(old.to_dict(), self._region) if old.exists else set()
            new_keys = index_keys(clean, self._region)
            for key in sorted(new_keys - old_keys):
                owner = self._index_ref(key).get(transaction=transaction)
                if owner.exists and owner.get("customer_id") != cid:
                    raise AddressConflict(key, str(owner.get("customer_id")), cid)
            # Firestore transactions need every read before the first write.
            transaction.set(self._customer_ref(cid), clean)
            card = card_of(cid, clean).as_index_document()
            for key in new_keys:
                transaction.set(self._index_ref(key), card)
            for key in old_keys - new_keys:
                transaction.delete(self._index_ref(key))

        write(self._db.transaction())
        return cid

    def delete(self, customer_id: Any) -> bool:
        """Remove a profile and its index entries; False when there was nothing to delete."""
        from google.cloud import firestore

        cid = customer_id_of(customer_id)

        @firestore.transactional
        def remove(transaction: Transaction) -> bool:
            old = self._customer_ref(cid).get(transaction=transaction)
            if not old.exists:
                return False
            # Firestore transactions need every read before the first write.
            owners = {key: self._index_ref(key).get(transaction=transaction) for key in index_keys(old.to_dict(), self._region)}
            for key, owner in owners.items():
                if owner.exists and owner.get("customer_id") == cid:
                    transaction.delete(self._index_ref(key))
            transaction.delete(self._customer_ref(cid))
            return True

        return remove(self._db.transaction())


def default_store() -> CustomerStore:
    from runtime.config import settings
    from store.client import firestore_client

    current = settings()
    return CustomerStore(firestore_client(current.project), current.customers_collection, current.default_region)
