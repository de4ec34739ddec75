"""A customer lookup is exactly one document read and never a query, at any size.

The webhooks' read (`store.lookup.lookup_card`, what `find_customer` runs) is recorded on the
wire it owns: a gRPC client interceptor on a reader's channel records every RPC (method, and
the document name for GetDocument); end to end, a TCP proxy in front of the emulator counts the
RPCs a webhook makes. It must be one unary GetDocument, or none when this instance's cache holds
the entry.

The tools' and Frontline callbacks' read (CustomerStore/Directory through google-cloud-firestore)
is recorded with a proxy of the real client talking to the emulator: the proxy delegates every
attribute to the real object, wraps the Firestore objects it hands out the same way, and records
each method call as (type of the real object, method name, document path when there is one).
"""

from __future__ import annotations

from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from typing import Any
from urllib.parse import quote

import grpc
import pytest

from runtime.deadline import Deadline
from runtime.errors import StoreUnavailable
from store.cache import CardCache
from store.collections import ADDRESS_INDEX_COLLECTION
from store.customers import CustomerStore
from store.lookup import lookup_card
from store.reader import open_reader
from tests.conftest import ADA, ADA_ADDRESS, PROJECT, signed_post
from tests.delay_proxy import DelayProxy

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


@pytest.fixture()
def many_customers(store):
    """300 customers loaded; some of their numbers, and the card each must find."""
    with ThreadPoolExecutor(max_workers=16) as pool:
        list(pool.map(lambda n: store.upsert(str(n), profile(n)), range(300)))
    return [(f"+1555{n:07d}", (str(n), f"Customer {n}")) for n in (0, 150, 299)]


def test_with_many_customers_a_lookup_is_still_one_get(recorded, many_customers):
    recording_store, calls = recorded
    for number, expected in many_customers:
        calls.clear()
        card = recording_store.find_by_address(number)
        assert card is not None and (card.customer_id, card.display_name) == expected
        assert len(document_gets(calls)) == 1, calls
        assert queries(calls) == [], calls
    calls.clear()
    assert recording_store.find_by_address("+15559999999") is None
    assert len(document_gets(calls)) == 1 and queries(calls) == []


# --- the webhooks' read: RPCs on the reader's own channel -------------------------------------

GET_DOCUMENT = "/google.firestore.v1.Firestore/GetDocument"


class RpcRecorder(grpc.UnaryUnaryClientInterceptor, grpc.UnaryStreamClientInterceptor,
                  grpc.StreamUnaryClientInterceptor, grpc.StreamStreamClientInterceptor):
    """Records (method, document name or None) for every call made on the channel, then lets it through."""

    def __init__(self) -> None:
        self.calls: list[tuple[str, str | None]] = []
        self.metadata: list[dict[str, str]] = []  # each call's metadata, in the same order

    def _record(self, details: grpc.ClientCallDetails, request: Any) -> None:
        self.calls.append((details.method, getattr(request, "name", None) if details.method == GET_DOCUMENT else None))
        self.metadata.append(dict(details.metadata or ()))

    def intercept_unary_unary(self, continuation, client_call_details, request):
        self._record(client_call_details, request)
        return continuation(client_call_details, request)

    def intercept_stream_unary(self, continuation, client_call_details, request_iterator):
        self._record(client_call_details, None)
        return continuation(client_call_details, request_iterator)

    # The same (continuation, details, request-or-iterator) shape for the streaming answers.
    intercept_unary_stream = intercept_unary_unary
    intercept_stream_stream = intercept_stream_unary


@pytest.fixture()
def wire(db, emulator):
    """A reader exactly as the webhooks open one, with a recorder on its channel."""
    reader, recorder = recorded_reader(emulator)
    return reader, recorder.calls


def recorded_reader(emulator) -> tuple[Any, RpcRecorder]:
    recorder = RpcRecorder()
    return open_reader(PROJECT, emulator.host_port, [recorder]), recorder


def index_document(reader, key: str) -> str:
    return f"{reader.documents}/{ADDRESS_INDEX_COLLECTION}/{key}"


def lookup(reader, address: str, cache: CardCache | None = None):
    return lookup_card(address, "US", lambda: reader, cache, Deadline(2.5))


def test_the_recorder_sees_every_kind_of_call_on_the_channel(wire, store):
    """Control: a streaming read made on the same channel is recorded, or the pins below could never fail."""
    from google.cloud.firestore_v1.types import BatchGetDocumentsRequest

    reader, calls = wire
    store.upsert("1", profile(1))
    request = BatchGetDocumentsRequest(database=reader.documents.rsplit("/", 1)[0], documents=[index_document(reader, "+15550000001")])
    assert len(list(reader.api.batch_get_documents(request=request, metadata=reader.metadata))) == 1
    assert [method for method, _ in calls] == ["/google.firestore.v1.Firestore/BatchGetDocuments"]


@pytest.mark.parametrize("address", ["+15550000001", "whatsapp:+15550000001", "(555) 000-0001", "C1@Example.com"])
def test_a_known_customer_is_one_unary_get_document_on_the_index(wire, store, address):
    reader, calls = wire
    store.upsert("1", profile(1))
    card = lookup(reader, address)
    assert card is not None and (card.customer_id, card.display_name, card.avatar) == ("1", "Customer 1", "https://example.com/1.png")
    key = "c1@example.com" if "@" in address else "+15550000001"
    assert calls == [(GET_DOCUMENT, index_document(reader, key))]


def test_the_get_document_carries_the_headers_firestore_routes_by(db, emulator, store):
    """What the generated client's method would add: the routing header naming the document, the
    database's resource prefix, and the client header; and the emulator's owner token."""
    reader, recorder = recorded_reader(emulator)
    store.upsert("1", profile(1))
    assert lookup(reader, "+15550000001") is not None
    sent = recorder.metadata[-1]
    name = index_document(reader, "+15550000001")
    assert sent["x-goog-request-params"] == "name=" + quote(name, safe="/")
    assert sent["google-cloud-resource-prefix"] == f"projects/{PROJECT}/databases/(default)"
    assert "gl-python/" in sent["x-goog-api-client"] and "gapic/" in sent["x-goog-api-client"] and sent["authorization"] == "Bearer owner"


def test_a_failed_get_document_is_store_unavailable_naming_the_grpc_code(wire, store):
    reader, _ = wire
    with pytest.raises(StoreUnavailable) as failed:
        reader.scalar_fields(f"{ADDRESS_INDEX_COLLECTION}/+15550000001", Deadline(0.000001), "customer lookup")
    assert failed.value.reason == "customer lookup took longer than the 0.00s deadline"
    with pytest.raises(StoreUnavailable) as refused:
        reader.scalar_fields("no-such-collection/a/b", Deadline(2.5), "customer lookup")  # a collection path, not a document
    assert refused.value.reason.startswith("customer lookup failed: InvalidArgument (INVALID_ARGUMENT)"), refused.value.reason


def test_an_unknown_address_is_one_get_document(wire, store):
    reader, calls = wire
    store.upsert("1", profile(1))
    assert lookup(reader, "+15559999999") is None
    assert calls == [(GET_DOCUMENT, index_document(reader, "+15559999999"))]


def test_an_address_that_cannot_be_a_key_makes_no_call(wire):
    reader, calls = wire
    assert lookup(reader, "whatsapp:") is None and lookup(reader, "x" * 3000) is None
    assert calls == []


def test_with_many_customers_a_webhook_lookup_is_still_one_get_document(wire, many_customers):
    reader, calls = wire
    for number, expected in many_customers:
        calls.clear()
        card = lookup(reader, number)
        assert card is not None and (card.customer_id, card.display_name) == expected
        assert calls == [(GET_DOCUMENT, index_document(reader, number))]


def test_a_cached_address_is_read_once_found_or_not(wire, store):
    """Cached by the address as sent: each spelling is read once, then never while its entry lives."""
    reader, calls = wire
    store.upsert("1", profile(1))
    cache = CardCache(30.0)
    for _ in range(3):
        assert lookup(reader, "+15550000001", cache).customer_id == "1"
        assert lookup(reader, "whatsapp:+15550000001", cache).customer_id == "1"
        assert lookup(reader, "+15559999999", cache) is None
    assert calls == [(GET_DOCUMENT, index_document(reader, "+15550000001"))] * 2 + [(GET_DOCUMENT, index_document(reader, "+15559999999"))]


# --- end to end: RPCs a webhook puts on the wire ------------------------------------------------


def conversation_add(client, address: str = ADA_ADDRESS):
    return signed_post(client, {"EventType": "onConversationAdd", "ChatServiceSid": "IS" + "0" * 32,
                                "MessagingBinding.Address": address, "MessagingBinding.ProxyAddress": "+15005550006"})


@pytest.mark.parametrize("cache_ttl", ["0", "30"])
def test_a_webhook_puts_one_rpc_on_the_wire_and_none_when_cached(client, store, emulator, settings_env, cache_ttl):
    store.upsert("ada", ADA)
    with DelayProxy(emulator.host_port, delay_s=0) as proxy:
        settings_env(FIRESTORE_EMULATOR_HOST=proxy.host_port, PROFILE_CACHE_TTL_S=cache_ttl)
        rpcs = []
        for address in (ADA_ADDRESS, ADA_ADDRESS, "+15559999999", "+15559999999"):
            before = proxy.rpcs
            assert conversation_add(client, address).status_code == 200
            rpcs.append(proxy.rpcs - before)
        assert proxy.connections == 1
    assert rpcs == ([1, 1, 1, 1] if cache_ttl == "0" else [1, 0, 1, 0])


def test_an_index_entry_without_a_customer_fails_the_read_instead_of_naming_nobody(wire, db):
    """Edited by hand into another shape: the webhook falls back on it and logs why (StoreUnavailable)."""
    from runtime.errors import StoreUnavailable

    reader, calls = wire
    db.collection(ADDRESS_INDEX_COLLECTION).document("+15550000007").set({"display_name": "Orphan"})
    with pytest.raises(StoreUnavailable, match="without customer_id"):
        lookup(reader, "+15550000007")
    assert calls == [(GET_DOCUMENT, index_document(reader, "+15550000007"))]
