"""Worker-facing reads for the Frontline callbacks: customer lists, search, workers, templates.

Lists page with Firestore query cursors (`start_after` the anchor's snapshot), so a page
costs its own size in reads however many customers there are. Every read is bounded by the
request's deadline and fails as `StoreUnavailable`.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any, cast

from runtime import logs
from runtime.config import store_settings
from store.addresses import is_document_id
from store.client import call_options, firestore_client, store_errors
from store.collections import TEMPLATES_COLLECTION, WORKERS_COLLECTION
from store.lookup import card_for_address
from store.plain import plain_document
from store.profiles import SORT_FIELD, StoredProfile, sort_name_of

if TYPE_CHECKING:
    from google.cloud.firestore import Client

    from runtime.deadline import Deadline

UNASSIGNED = ""
# The highest code point Firestore sorts: `prefix + this` bounds every string starting with prefix.
_PREFIX_END = "\uf8ff"
# Firestore refuses a query on a string of 1,500 bytes or more (InvalidArgument: its size counts
# the UTF-8 bytes + 1), and the range's upper bound is the prefix + _PREFIX_END.
MAX_NAME_PREFIX_BYTES = 1499 - len(_PREFIX_END.encode("utf-8"))


def fits_name_prefix(text: str) -> bool:
    """Whether a name search for `text` is one Firestore accepts (case-folding can lengthen it)."""
    return len(sort_name_of(text).encode("utf-8")) <= MAX_NAME_PREFIX_BYTES


def _order_key(category_id: str, data: dict[str, Any]) -> tuple:
    # Numbers first, by value; an `order` typed as text in the console sorts after them, as text.
    order = data.get("order", 0)
    is_number = isinstance(order, (int, float)) and not isinstance(order, bool)
    return (0, order, "", category_id) if is_number else (1, 0, str(order), category_id)


class Directory:
    def __init__(self, db: Client, customers_collection: str = "customers", default_region: str = "US",
                 deadline: Deadline | None = None) -> None:
        self._db = db
        self._deadline = deadline
        self._customers = customers_collection
        self._region = default_region

    @property
    def default_region(self) -> str:
        return self._region

    def _owned_by(self, worker: str, include_unassigned: bool) -> Any:
        from google.cloud.firestore_v1.base_query import FieldFilter

        collection = self._db.collection(self._customers)
        if include_unassigned and worker != UNASSIGNED:
            return collection.where(filter=FieldFilter("worker", "in", [worker, UNASSIGNED]))
        return collection.where(filter=FieldFilter("worker", "==", worker))

    def customers_page(self, worker: str, page_size: int, anchor: str | None = None, name_prefix: str | None = None,
                       include_unassigned: bool = True) -> list[tuple[str, StoredProfile]] | None:
        """(customer_id, profile) pairs after `anchor`, by name; None when the anchor no longer exists."""
        from google.cloud.firestore_v1.base_query import FieldFilter

        query = self._owned_by(worker, include_unassigned)
        if name_prefix:
            prefix = sort_name_of(name_prefix)
            query = query.where(filter=FieldFilter(SORT_FIELD, ">=", prefix)).where(filter=FieldFilter(SORT_FIELD, "<", prefix + _PREFIX_END))
        query = query.order_by(SORT_FIELD)
        with store_errors("customer list", self._deadline):
            if anchor:
                if not is_document_id(anchor):
                    return None
                anchor_snapshot = self._db.collection(self._customers).document(anchor).get(**call_options(self._deadline))
                if not anchor_snapshot.exists:
                    return None
                if not isinstance((anchor_snapshot.to_dict() or {}).get(SORT_FIELD), str):
                    # Not in the ordered list at all (a console edit without the store's field): nowhere to continue from.
                    logs.warning(f"anchor customer has no {SORT_FIELD}; list ends here (tools.customers check --fix adds it)")
                    return []
                query = query.start_after(anchor_snapshot)
            return [(snapshot.id, cast(StoredProfile, plain_document(snapshot.to_dict(), f"customer {snapshot.id!r}") or {}))
                    for snapshot in query.limit(page_size).stream(**call_options(self._deadline))]

    def customer_by_address(self, address: str) -> tuple[str, StoredProfile] | None:
        card = card_for_address(self._db, address, self._region, self._deadline)
        if card is None:
            return None
        profile = self.customer(card.customer_id)
        return (card.customer_id, profile) if profile is not None else None

    def customer(self, customer_id: str) -> StoredProfile | None:
        if not is_document_id(customer_id):
            return None  # no document can have that id: unknown, not a Firestore error
        with store_errors("customer read", self._deadline):
            snapshot = self._db.collection(self._customers).document(customer_id).get(**call_options(self._deadline))
        return cast(StoredProfile, plain_document(snapshot.to_dict(), f"customer {customer_id!r}") or {}) if snapshot.exists else None

    def worker(self, identity: str) -> dict[str, Any]:
        if not is_document_id(identity):
            return {}
        with store_errors("worker read", self._deadline):
            snapshot = self._db.collection(WORKERS_COLLECTION).document(identity).get(**call_options(self._deadline))
        return (plain_document(snapshot.to_dict(), f"worker {identity!r}") or {}) if snapshot.exists else {}

    def template_categories(self) -> list[dict[str, Any]]:
        """Every category, by its `order` field, then by id: a handful of documents, read whole."""
        with store_errors("template read", self._deadline):
            categories = [(snapshot.id, plain_document(snapshot.to_dict(), f"template category {snapshot.id!r}") or {})
                          for snapshot in self._db.collection(TEMPLATES_COLLECTION).stream(**call_options(self._deadline))]
        categories.sort(key=lambda item: _order_key(*item))
        return [data for _, data in categories]


def default_directory(deadline: Deadline) -> Directory:
    """The directory of this instance's database, its first use bounded by `deadline` like every read."""
    current = store_settings()
    return Directory(firestore_client(current.project, deadline), current.customers_collection, current.default_region, deadline)


def save_worker(db: Client, identity: str, worker: dict[str, Any]) -> None:
    db.collection(WORKERS_COLLECTION).document(identity).set({k: v for k, v in worker.items() if k != "identity"})


def save_template_category(db: Client, category_id: str, category: dict[str, Any]) -> None:
    db.collection(TEMPLATES_COLLECTION).document(category_id).set({k: v for k, v in category.items() if k != "id"})
