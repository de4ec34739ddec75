"""A webhook's customer lookup is exactly one document get and never a query, at any size.

CustomerStore is built around a recording proxy of the real google-cloud-firestore client
talking to the emulator: the proxy delegates every attribute to the real object, wraps the
Firestore objects it hands out the same way, and records each method call as
(type of the real object, method name, document path when there is one).
"""

from __future__ import annotations

from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from typing import Any

import pytest

from store.collections import ADDRESS_INDEX_COLLECTION
from store.customers import CustomerStore

QUERY_TYPES = {"Query", "CollectionReference", "CollectionGroup", "AggregationQuery", "BaseQuery", "VectorQuery"}
READ_METHODS = {"get", "stream", "where", "list_documents", "select", "order_by", "limit", "count", "get_all", "collections", "find_nearest"}


@dataclass(frozen=True)
class Call:
    type_name: str
    method: str
    path: str | None


class Recording:
    """Delegates everything to `target`; records method calls and wraps Firestore results."""

    def __init__(self, target: Any, calls: list[Call]) -> None:
        object.__setattr__(self, "_target", target)
        object.__setattr__(self, "_calls", calls)

    def __getattr__(self, name: str) -> Any:
        target, calls = self._target, self._calls
        value = getattr(target, name)
        if not callable(value):
            return _wrap(value, calls)

        def recorded(*args: Any, **kwargs: Any) -> Any:
            calls.append(Call(type(target).__name__, name, getattr(target, "path", None) if type(target).__name__ == "DocumentReference" else None))
            return _wrap(value(*args, **kwargs), calls)

        return recorded

    def __iter__(self):
        return (_wrap(item, self._calls) for item in self._target)


def _wrap(value: Any, calls: list[Call]) -> Any:
    module = type(value).__module__ or ""
    if module.startswith("google.cloud.firestore") or module.startswith("google.cloud.firestore_v1"):
        return Recording(value, calls)
    return value


@pytest.fixture()
def recorded(db):
    calls: list[Call] = []
    return CustomerStore(Recording(db, calls), "customers", "US"), calls


def document_gets(calls: list[Call]) -> list[Call]:
    return [c for c in calls if c.type_name == "DocumentReference" and c.method == "get"]


def queries(calls: list[Call]) -> list[Call]:
    return [c for c in calls if (c.type_name in QUERY_TYPES and c.method in READ_METHODS) or (c.type_name == "Client" and c.method in ("get_all", "collection_group", "collections"))]


def profile(n: int) -> dict:
    return {
        "display_name": f"Customer {n}",
        "avatar": f"https://example.com/{n}.png",
        "channels": [{"type": "sms", "value": f"+1555{n:07d}"}, {"type": "email", "value": f"c{n}@example.com"}],
    }


def test_the_proxy_sees_a_query_when_one_is_made(recorded, store):
    """Control: the recorder must notice a query, or the assertions below could never fail."""
    recording_store, calls = recorded
    store.upsert("1", profile(1))
    from google.cloud.firestore_v1.base_query import FieldFilter

    db = recording_store._db
    list(db.collection("customers").where(filter=FieldFilter("display_name", "==", "Customer 1")).stream())
    db.collection("customers").document("1").get()
    assert queries(calls), calls
    assert len(document_gets(calls)) == 1


@pytest.mark.parametrize("address", ["+15550000001", "whatsapp:+15550000001", "(555) 000-0001", "C1@Example.com"])
def test_known_customer_is_one_document_get_on_the_index(recorded, store, address):
    recording_store, calls = recorded
    store.upsert("1", profile(1))
    card = recording_store.find_by_address(address)
    assert card is not None and card.customer_id == "1"
    gets = document_gets(calls)
    assert len(gets) == 1, calls
    assert gets[0].path.startswith(ADDRESS_INDEX_COLLECTION + "/")
    assert queries(calls) == [], calls


def test_unknown_customer_is_one_document_get_and_no_query(recorded, store):
    recording_store, calls = recorded
    store.upsert("1", profile(1))
    assert recording_store.find_by_address("+15559999999") is None
    assert [g.path for g in document_gets(calls)] == [f"{ADDRESS_INDEX_COLLECTION}/+15559999999"]
    assert queries(calls) == [], calls


def test_an_address_that_cannot_be_a_key_reads_nothing(recorded, store):
    recording_store, calls = recorded
    assert recording_store.find_by_address("whatsapp:") is None
    assert document_gets(calls) == [] and queries(calls) == []


def test_with_many_customers_a_lookup_is_still_one_get(recorded, store):
    with ThreadPoolExecutor(max_workers=16) as pool:
        list(pool.map(lambda n: store.upsert(str(n), profile(n)), range(300)))
    recording_store, calls = recorded
    for n in (0, 150, 299):
        calls.clear()
        card = recording_store.find_by_address(f"+1555{n:07d}")
        assert card is not None and card.customer_id == str(n) and card.display_name == f"Customer {n}"
        assert len(document_gets(calls)) == 1, calls
        assert queries(calls) == [], calls
    calls.clear()
    assert recording_store.find_by_address("+15559999999") is None
    assert len(document_gets(calls)) == 1 and queries(calls) == []
