"""The Firestore trigger `customer_written`, through the real delivery path: profiles written with
the plain google-cloud-firestore client → the emulator's Eventarc-style CloudEvent → functions-
framework serving `customer_written` (a subprocess, started without any TWILIO_* variable) →
index entries and derived fields → the webhook answering by name.

The trigger is registered for TRIGGER_PROJECT only: the rest of the suite writes deliberately
broken data to its own project and must not be repaired behind its back. The emulator delivers
at most once and asynchronously, so every effect is polled for, never assumed. POLL_S bounds the
wait; it is not a speed requirement (the delays measured are printed with `-s`; bench/trigger_delay.py
measures them properly).
"""

from __future__ import annotations

import base64
import os
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import pytest
import requests

from store.audit import audit
from tests.conftest import ADA, ADA_ADDRESS, ADA_ATTRIBUTES, CONVERSATION_SID, PARTICIPANT_SID, PROJECT, ROOT, json_logs
from tests.test_conversation_add import conversation_add
from tests.frontline_people import customers_list, listed
from tests.test_participant_added import add_customer_participant, participant_added
from tools.emulator import DOCUMENT_WRITTEN, Emulator, free_port
from tools.local_trigger import TriggerServer

TRIGGER_PROJECT = "demo-frontline-trigger"
POLL_S = 15.0
NEW_NUMBER = "+15550108002"


@dataclass
class Wiring:
    emulator: Emulator
    server: TriggerServer
    log: Path

    def log_mark(self) -> int:
        return self.log.stat().st_size

    def logs_since(self, mark: int) -> list[dict]:
        with open(self.log, "rb") as log:
            log.seek(mark)
            return json_logs(log.read().decode("utf-8", "replace"))


def _without_function_env(environ: dict[str, str]) -> dict[str, str]:
    # functions_framework.create_app writes FUNCTION_TARGET/FUNCTION_SIGNATURE_TYPE into os.environ.
    return {k: v for k, v in environ.items() if not k.startswith(("TWILIO_", "FUNCTION_"))}


def cloud_event_headers(project: str, customer_id: str, event_id: str = "event-1") -> dict[str, str]:
    """Binary-mode CloudEvent headers, as Eventarc (and the emulator) send them."""
    return {"ce-specversion": "1.0", "ce-type": DOCUMENT_WRITTEN, "ce-id": event_id,
            "ce-source": f"//firestore.googleapis.com/projects/{project}/databases/(default)",
            "ce-subject": f"documents/customers/{customer_id}", "ce-time": "2026-11-30T12:00:00Z",
            "ce-datacontenttype": "application/protobuf", "Content-Type": "application/protobuf"}


def document_event(project: str, customer_id: str, value: dict[str, str] | None, old_value: dict[str, str] | None = None) -> bytes:
    """A DocumentEventData protobuf, serialised as production sends it (snapshots of string fields)."""
    from google.events.cloud.firestore import Document, DocumentEventData, Value

    name = f"projects/{project}/databases/(default)/documents/customers/{customer_id}"

    def document(fields: dict[str, str] | None) -> Document | None:
        return None if fields is None else Document(name=name, fields={k: Value(string_value=v) for k, v in fields.items()})

    return DocumentEventData.serialize(DocumentEventData(value=document(value), old_value=document(old_value)))


@pytest.fixture(scope="session")
def wiring(emulator):
    own = None
    source = emulator
    if not emulator.delivers_events:
        # The session's emulator was named by FIRESTORE_EMULATOR_HOST (or is not the JAR): start one that delivers.
        own = source = Emulator(TRIGGER_PROJECT, log_path=ROOT / ".local" / "firestore-emulator-trigger.log",
                                host_port=f"127.0.0.1:{free_port()}", functions_port=free_port()).start()
    if not source.delivers_events:
        source.stop()
        pytest.fail("the trigger tests need the Firestore emulator's JAR started with java (the gcloud component "
                    "cloud-firestore-emulator): only it delivers events to a local function")
    log = ROOT / ".local" / f"trigger-test-{os.getpid()}.log"
    log.write_bytes(b"")
    env = _without_function_env(dict(os.environ)) | {"GOOGLE_CLOUD_PROJECT": TRIGGER_PROJECT, "FIRESTORE_EMULATOR_HOST": source.host_port,
                                                     "PYTHONUNBUFFERED": "1"}
    server = TriggerServer(source.functions_port, env, log).start()
    try:
        source.add_trigger("customers", project=TRIGGER_PROJECT)
        # The first event pays for imports and the Firestore client; a test should not measure that.
        started = time.monotonic()
        warm = requests.post(server.url, data=document_event(TRIGGER_PROJECT, "warm-up", None, {}),
                             headers=cloud_event_headers(TRIGGER_PROJECT, "warm-up"), timeout=60)
        assert warm.status_code == 200, warm.text
        print(f"\ncustomer_written: first event handled in {time.monotonic() - started:.2f}s")
        yield Wiring(source, server, log)
    finally:
        server.stop()
        if own:
            own.stop()


@pytest.fixture()
def tdb(wiring, settings_env):
    """Firestore in TRIGGER_PROJECT, emptied; the webhook (`client`) reads the same project."""
    settings_env(GOOGLE_CLOUD_PROJECT=TRIGGER_PROJECT, FIRESTORE_EMULATOR_HOST=wiring.emulator.host_port)
    wiring.emulator.clear(TRIGGER_PROJECT)
    from store.client import firestore_client

    return firestore_client(TRIGGER_PROJECT)


@pytest.fixture()
def tstore(tdb):
    from store.customers import CustomerStore

    return CustomerStore(tdb, "customers", "US")


def poll(what: str, check: Callable[[], object]) -> float:
    """Seconds until `check()` holds; fails after POLL_S."""
    started = time.monotonic()
    while time.monotonic() - started < POLL_S:
        if check():
            return time.monotonic() - started
        time.sleep(0.02)
    pytest.fail(f"not within {POLL_S:.0f}s: {what}")


def name_of(client, address: str) -> str:
    return conversation_add(client, address).get_json()["friendly_name"]


def entry(db, key: str) -> dict | None:
    snapshot = db.collection("customer_addresses").document(key).get()
    return snapshot.to_dict() if snapshot.exists else None


def profile(db, customer_id: str) -> dict | None:
    snapshot = db.collection("customers").document(customer_id).get()
    return snapshot.to_dict() if snapshot.exists else None


def owned_by(db, customer_id: str) -> dict[str, dict]:
    from google.cloud.firestore_v1.base_query import FieldFilter

    query = db.collection("customer_addresses").where(filter=FieldFilter("customer_id", "==", customer_id))
    return {snapshot.id: snapshot.to_dict() for snapshot in query.stream()}


def update_times(db, customer_id: str) -> dict[str, object]:
    """When the profile and each index entry pointing at it were last written."""
    times = {"profile": db.collection("customers").document(customer_id).get().update_time}
    from google.cloud.firestore_v1.base_query import FieldFilter

    query = db.collection("customer_addresses").where(filter=FieldFilter("customer_id", "==", customer_id))
    return times | {snapshot.id: snapshot.update_time for snapshot in query.stream()}


def check_problems(store) -> list[str]:
    """What `python -m tools.customers check` would report."""
    found = audit(dict(store.profiles()), dict(store.index_entries()), "US")
    return [f"{problem.kind}: {problem.subject}" for problem in found.problems]


# --- through the emulator's delivery ----------------------------------------------------------


def test_a_profile_written_with_the_plain_client_is_named_filled_listed_and_found(tdb, tstore, client, twilio):
    tdb.collection("customers").document("ada").set(ADA)  # no index entry, no sort_name, no worker
    delay = poll("onConversationAdd names the customer", lambda: name_of(client, ADA_ADDRESS) == "Ada Lovelace")
    print(f"\nplain write → named by onConversationAdd after {delay:.3f}s")
    add_customer_participant(twilio)
    assert participant_added(client).status_code == 200
    assert twilio.attributes_of(CONVERSATION_SID, PARTICIPANT_SID) == ADA_ATTRIBUTES
    card = {"customer_id": "ada", "display_name": "Ada Lovelace", "avatar": "https://example.com/ada.png"}
    assert listed(customers_list(client, PageSize="30")) == [card]
    assert listed(customers_list(client, PageSize="30", Query="ada lo")) == [card]
    assert profile(tdb, "ada") == {**ADA, "sort_name": "ada lovelace", "worker": ""}
    assert check_problems(tstore) == []


def test_a_changed_number_moves_the_entry_and_a_deleted_profile_takes_its_entries(tdb, client):
    tdb.collection("customers").document("ada").set(ADA)
    poll("the first number is indexed", lambda: entry(tdb, ADA_ADDRESS))
    tdb.collection("customers").document("ada").update({"channels": [{"type": "sms", "value": NEW_NUMBER}]})
    poll("the new number names Ada and the old one nobody",
         lambda: name_of(client, NEW_NUMBER) == "Ada Lovelace" and name_of(client, ADA_ADDRESS) == ADA_ADDRESS)
    assert set(owned_by(tdb, "ada")) == {NEW_NUMBER}
    tdb.collection("customers").document("ada").delete()
    poll("no entry points at the deleted customer", lambda: not owned_by(tdb, "ada"))
    assert name_of(client, NEW_NUMBER) == NEW_NUMBER


def test_a_console_style_edit_of_name_and_avatar_reaches_the_index(tdb, tstore, client):
    tstore.upsert("ada", ADA)  # the data tool: entries and derived fields already right
    tdb.collection("customers").document("ada").update({"display_name": "Ada King", "avatar": "https://example.com/king.png"})
    poll("the index carries the new name and avatar",
         lambda: entry(tdb, ADA_ADDRESS) == {"customer_id": "ada", "display_name": "Ada King", "avatar": "https://example.com/king.png"})
    assert profile(tdb, "ada")["sort_name"] == "ada king"
    assert name_of(client, "whatsapp:" + ADA_ADDRESS) == "Ada King"
    assert check_problems(tstore) == []


def test_twenty_rapid_updates_converge_to_the_last_and_then_nothing_writes(tdb, tstore):
    numbers = [ADA_ADDRESS, NEW_NUMBER]
    for n in range(1, 21):
        tdb.collection("customers").document("ada").set({"display_name": f"Ada {n}", "channels": [{"type": "sms", "value": numbers[n % 2]}]})
    final = {"customer_id": "ada", "display_name": "Ada 20", "avatar": None}
    delay = poll("the index and sort_name follow the 20th version",
                 lambda: owned_by(tdb, "ada") == {ADA_ADDRESS: final} and (profile(tdb, "ada") or {}).get("sort_name") == "ada 20")
    print(f"\n20 updates → converged {delay:.3f}s after the last write")
    settled = update_times(tdb, "ada")
    time.sleep(3)
    assert update_times(tdb, "ada") == settled, "something wrote again after convergence: a loop"
    assert check_problems(tstore) == []


def test_an_address_another_profile_lists_is_not_taken_over_and_the_log_names_both(wiring, tdb, tstore, client):
    tstore.upsert("bea", {"display_name": "Bea", "channels": [{"type": "sms", "value": ADA_ADDRESS}]})
    mark = wiring.log_mark()
    tdb.collection("customers").document("al").set({"display_name": "Al", "channels": [{"type": "sms", "value": ADA_ADDRESS},
                                                                                      {"type": "sms", "value": NEW_NUMBER}]})
    poll("Al's other number is indexed", lambda: entry(tdb, NEW_NUMBER))
    assert entry(tdb, ADA_ADDRESS)["customer_id"] == "bea" and name_of(client, ADA_ADDRESS) == "Bea"
    poll("the ERROR line is logged", lambda: [line for line in wiring.logs_since(mark) if line["severity"] == "ERROR"])
    errors = [line["message"] for line in wiring.logs_since(mark) if line["severity"] == "ERROR"]
    # Once per event for Al while the double claim lasts: here Al's write, then the derived fields' write.
    assert set(errors) == {"address ***5310 is listed by customers 'bea' and 'al'; it stays with 'bea': remove it from one of the profiles"}
    assert f"double_claim: {ADA_ADDRESS}" in check_problems(tstore)


def test_a_number_moved_by_one_batch_ends_with_its_new_owner(tdb, tstore, client):
    tstore.upsert("bea", {"display_name": "Bea", "channels": [{"type": "sms", "value": ADA_ADDRESS}]})
    batch = tdb.batch()
    batch.set(tdb.collection("customers").document("bea"), {"display_name": "Bea", "channels": []})
    batch.set(tdb.collection("customers").document("al"), {"display_name": "Al", "channels": [{"type": "sms", "value": ADA_ADDRESS}]})
    batch.commit()
    poll("the number names Al", lambda: name_of(client, ADA_ADDRESS) == "Al")
    poll("both profiles have their derived fields", lambda: all("sort_name" in (profile(tdb, c) or {}) for c in ("al", "bea")))
    assert check_problems(tstore) == []


def test_invalid_profiles_are_warned_about_and_do_not_stop_the_function(wiring, tdb, client):
    mark = wiring.log_mark()
    tdb.collection("customers").document("nameless").set({"channels": [{"type": "sms", "value": ADA_ADDRESS}]})
    tdb.collection("customers").document("badnum").set({"display_name": "Bad", "channels": [
        {"type": "sms", "value": "+1 555 CALL NOW"}, {"type": "sms", "value": NEW_NUMBER}]})
    tdb.collection("customers").document("fine").set({"display_name": "Fine", "channels": [{"type": "chat", "value": "fine-1"}]})
    poll("a valid profile after them is still indexed", lambda: entry(tdb, "fine-1"))
    poll("both WARNING lines are logged", lambda: len([line for line in wiring.logs_since(mark) if line["severity"] == "WARNING"]) == 2)
    lines = wiring.logs_since(mark)
    warnings = sorted((line["customer_id"], line["message"]) for line in lines if line["severity"] == "WARNING")
    assert [(cid, message.split(":")[0]) for cid, message in warnings] == [
        ("badnum", "customer 'badnum' has an invalid channels"), ("nameless", "customer 'nameless' has an invalid display_name")]
    # Indexed as they stand (what check --fix does too): no name means the address is the conversation's name.
    assert name_of(client, ADA_ADDRESS) == ADA_ADDRESS and name_of(client, NEW_NUMBER) == "Bad"
    assert "sort_name" not in profile(tdb, "nameless")
    assert not [line for line in lines if line["severity"] == "ERROR"]
    with open(wiring.log, "rb") as log:
        log.seek(mark)
        written = log.read().decode()
    assert ADA_ADDRESS not in written and NEW_NUMBER not in written and "Traceback" not in written


# --- straight to the function: production's raw protobuf, duplicates, stale snapshots, failures ---


@pytest.fixture(scope="module")
def trigger_app():
    """customer_written in functions-framework's own Flask app, in this process (PROJECT has no trigger)."""
    import functions_framework

    saved = {name: os.environ.get(name) for name in ("FUNCTION_TARGET", "FUNCTION_SIGNATURE_TYPE")}
    try:
        return functions_framework.create_app(target="customer_written", source=str(ROOT / "main.py"), signature_type="cloudevent")
    finally:
        for name, value in saved.items():
            if value is None:
                os.environ.pop(name, None)
            else:
                os.environ[name] = value


def post_event(trigger_app, body: bytes | str, customer_id: str = "ada", event_id: str = "event-1"):
    return trigger_app.test_client().post("/", data=body, headers=cloud_event_headers(PROJECT, customer_id, event_id))


def test_a_raw_protobuf_event_has_the_same_effect_as_the_emulators_delivery(trigger_app, emulator, db, tdb, settings_env):
    tdb.collection("customers").document("ada").set(ADA)  # TRIGGER_PROJECT: the emulator delivers
    settings_env(GOOGLE_CLOUD_PROJECT=PROJECT, FIRESTORE_EMULATOR_HOST=emulator.host_port)  # the function serves PROJECT
    db.collection("customers").document("ada").set(ADA)  # PROJECT: no trigger, nothing happens by itself
    assert post_event(trigger_app, document_event(PROJECT, "ada", {"display_name": "Ada Lovelace"})).status_code == 200
    poll("the emulator's event is handled", lambda: entry(tdb, ADA_ADDRESS) and "sort_name" in profile(tdb, "ada"))
    assert (profile(db, "ada"), entry(db, ADA_ADDRESS)) == (profile(tdb, "ada"), entry(tdb, ADA_ADDRESS))
    assert entry(db, ADA_ADDRESS) == {"customer_id": "ada", "display_name": "Ada Lovelace", "avatar": "https://example.com/ada.png"}


def test_the_emulators_base64_body_is_read_like_the_raw_bytes(trigger_app, db):
    db.collection("customers").document("ada").set(ADA)
    event = base64.b64encode(document_event(PROJECT, "ada", {"display_name": "Ada Lovelace"})).decode()
    assert post_event(trigger_app, event).status_code == 200
    assert entry(db, ADA_ADDRESS)["display_name"] == "Ada Lovelace"


def test_duplicate_and_stale_events_change_nothing(trigger_app, db, capsys):
    db.collection("customers").document("ada").set(ADA)
    created = document_event(PROJECT, "ada", {"display_name": "Ada Lovelace"})
    post_event(trigger_app, created)
    settled = update_times(db, "ada")
    post_event(trigger_app, created)  # Eventarc delivers at least once
    # An older event arriving late, whose snapshot says something else: the stored profile wins.
    post_event(trigger_app, document_event(PROJECT, "ada", {"display_name": "Someone Else"}, {}), event_id="event-0")
    assert update_times(db, "ada") == settled
    assert entry(db, ADA_ADDRESS)["display_name"] == "Ada Lovelace"
    db.collection("customers").document("ada").delete()
    deleted = document_event(PROJECT, "ada", None, {"display_name": "Ada Lovelace"})
    post_event(trigger_app, deleted)
    post_event(trigger_app, deleted)
    assert entry(db, ADA_ADDRESS) is None
    messages = [line["message"] for line in json_logs(capsys.readouterr().out)]
    assert messages == ["customer converged", "customer already in step", "customer already in step", "customer converged",
                        "customer already in step"]


@pytest.mark.parametrize(("body", "reason"), [
    (b"\x0a\xff\xff", "event data is not a DocumentEventData protobuf (3 bytes): DecodeError"),
    (b"", "event names no document"),
])
def test_an_unreadable_event_is_logged_and_not_retried(trigger_app, db, capsys, body, reason):
    response = trigger_app.test_client().post("/", data=body, headers={**cloud_event_headers(PROJECT, "ada"), "ce-subject": "x"})
    assert response.status_code == 200, "retrying an event that cannot be read would never end"
    assert [line["message"] for line in json_logs(capsys.readouterr().out)] == [f"event ignored: {reason}"]


def test_an_event_for_another_collection_is_ignored(trigger_app, db, capsys):
    body = document_event(PROJECT, "x", {"a": "b"}).replace(b"/customers/x", b"/customerz/x")
    assert post_event(trigger_app, body).status_code == 200
    assert [line["message"] for line in json_logs(capsys.readouterr().out)] == [
        "event ignored: 'customerz/x' is not a profile in 'customers' (CUSTOMERS_COLLECTION)"]


class AbortingFirestore:
    """A gRPC server answering every call ABORTED at once: Firestore failing transiently (contention)."""

    def __init__(self) -> None:
        from concurrent import futures

        import grpc

        class AbortEverything(grpc.GenericRpcHandler):
            def service(self, handler_call_details):
                return grpc.unary_unary_rpc_method_handler(lambda request, context: context.abort(grpc.StatusCode.ABORTED, "contention"))

        self.server = grpc.server(futures.ThreadPoolExecutor(max_workers=2))
        self.server.add_generic_rpc_handlers((AbortEverything(),))
        self.host_port = f"127.0.0.1:{self.server.add_insecure_port('127.0.0.1:0')}"
        self.server.start()

    def close(self) -> None:
        self.server.stop(0)


def test_a_transient_firestore_failure_answers_503_so_eventarc_delivers_again(trigger_app, settings_env, capsys):
    failing = AbortingFirestore()
    settings_env(FIRESTORE_EMULATOR_HOST=failing.host_port)
    try:
        response = post_event(trigger_app, document_event(PROJECT, "ada", {"display_name": "Ada"}))
    finally:
        failing.close()
    assert response.status_code == 503
    out, err = capsys.readouterr()
    errors = [line["message"] for line in json_logs(out) if line["severity"] == "ERROR"]
    assert errors == ["converging customer 'ada' failed: Aborted (ABORTED); answered 503 so the event is delivered again"]
    assert "Traceback" not in out + err
