"""Opt-out end to end: a customer's STOP (onMessageAdded) lands on their profile in the real
emulator; a worker's next message (onMessageAdd) is refused with a reason; faults of ours
let messages through with an ERROR. Twilio is the stand-in, reached over HTTP."""

from __future__ import annotations

import io
import json
import uuid

import pytest

from tests.conftest import ADA, ADA_ADDRESS, json_logs, signed_post
from tests.test_conversation_add import BlackHole
from tools import webhook_forms
from tools.twilio_sandbox import Fault

ALICE = "alice@example.com"
CUSTOMER_PARTICIPANT = "MB" + "c" * 32
WORKER_PARTICIPANT = "MB" + "d" * 32


@pytest.fixture()
def conversation(twilio, store):
    """A fresh conversation (so no instance cache carries over): Ada texting in, Alice answering."""
    store.upsert("ada", {**ADA, "worker": ALICE, "details": {"title": "Notes", "content": "Prefers SMS."}})
    sid = "CH" + uuid.uuid4().hex
    twilio.add_participant(sid, CUSTOMER_PARTICIPANT, address=ADA_ADDRESS, attributes=json.dumps({"customer_id": "ada"}))
    twilio.add_participant(sid, WORKER_PARTICIPANT, identity=ALICE)
    return sid


def customer_writes(client, conversation_sid: str, body: str, *, source: str | None = None):
    form = webhook_forms.message("onMessageAdded", conversation_sid, body=body, author=ADA_ADDRESS,
                                 participant_sid=CUSTOMER_PARTICIPANT, from_customer=True)
    if source is not None:
        form["Source"] = source
    return signed_post(client, form)


def worker_writes(client, conversation_sid: str, body: str = "Your order is ready."):
    return signed_post(client, webhook_forms.message("onMessageAdd", conversation_sid, body=body, author=ALICE,
                                                     participant_sid=WORKER_PARTICIPANT, from_customer=False))


def opt_out_fields(store) -> dict:
    profile = store.get("ada") or {}
    return {name: profile[name] for name in ("opted_out", "opted_out_changed_at") if name in profile}


def messages(capsys, severity: str) -> list[str]:
    return [line["message"] for line in json_logs(capsys.readouterr().out) if line["severity"] == severity]


# --- recording the choice (onMessageAdded) --------------------------------------------------


@pytest.mark.parametrize("keyword", ["STOP", "STOPALL", "UNSUBSCRIBE", "CANCEL", "END", "QUIT"])
def test_each_opt_out_keyword_from_the_customer_is_recorded_on_the_profile(client, store, conversation, keyword):
    response = customer_writes(client, conversation, keyword)
    assert (response.status_code, response.get_json()) == (200, {})
    recorded = opt_out_fields(store)
    assert recorded["opted_out"] is True
    assert recorded["opted_out_changed_at"].endswith("Z") and recorded["opted_out_changed_at"][:4].isdigit()


@pytest.mark.parametrize("body", [" stop ", "Stop\n", "\tuNsUbScRiBe  "])
def test_case_and_whitespace_variants_are_recorded(client, store, conversation, body):
    customer_writes(client, conversation, body)
    assert opt_out_fields(store)["opted_out"] is True


@pytest.mark.parametrize("body", ["Please stop texting me", "STOP!", "I will cancel tomorrow"])
def test_a_keyword_inside_a_longer_message_changes_nothing(client, store, conversation, body):
    before = store.get("ada")
    customer_writes(client, conversation, body)
    assert store.get("ada") == before


@pytest.mark.parametrize("opt_in", ["START", "yes", " Unstop "])
def test_opt_out_then_opt_in(client, store, conversation, opt_in, capsys):
    customer_writes(client, conversation, "STOP")
    assert opt_out_fields(store)["opted_out"] is True
    assert worker_writes(client, conversation).status_code == 403
    customer_writes(client, conversation, opt_in)
    assert opt_out_fields(store)["opted_out"] is False
    assert (worker_writes(client, conversation).status_code, worker_writes(client, conversation).get_json()) == (200, {})
    assert messages(capsys, "INFO").count("customer opted back in") == 1


def test_a_repeated_stop_keeps_the_first_time_and_writes_nothing(client, store, conversation, db, capsys):
    customer_writes(client, conversation, "STOP")
    first = opt_out_fields(store)
    updated = db.collection("customers").document("ada").get().update_time
    customer_writes(client, conversation, "stop")
    assert opt_out_fields(store) == first
    assert db.collection("customers").document("ada").get().update_time == updated
    assert "opt-out already recorded" in messages(capsys, "INFO")


def test_the_write_touches_only_the_opt_out_fields_so_the_index_has_nothing_to_follow(client, store, conversation, db, capsys):
    from tools.customers import main as customers_tool

    before = store.get("ada")
    index_before = db.collection("customer_addresses").document(ADA_ADDRESS).get()
    customer_writes(client, conversation, "STOP")
    after = store.get("ada")
    assert {k: v for k, v in after.items() if k not in ("opted_out", "opted_out_changed_at")} == before
    assert db.collection("customer_addresses").document(ADA_ADDRESS).get().update_time == index_before.update_time
    capsys.readouterr()
    assert customers_tool(["check"]) == 0, capsys.readouterr().out  # no missing, stale or derived-field problem
    # What the Firestore trigger does with the event this write fires: nothing to write.
    converged = store.converge("ada")
    assert (converged.writes, converged.invalid, converged.conflicts) == (0, None, ())


def test_a_keyword_written_in_the_app_is_not_the_customers_choice(client, store, conversation):
    customer_writes(client, conversation, "STOP", source="SDK")
    assert opt_out_fields(store) == {}


def test_a_keyword_from_an_unknown_address_records_nothing(client, store, twilio, capsys):
    store.upsert("ada", ADA)
    form = webhook_forms.message("onMessageAdded", "CH" + "e" * 32, body="STOP", author="+15550009999", from_customer=True)
    assert signed_post(client, form).status_code == 200
    assert opt_out_fields(store) == {}
    assert "opt-out keyword from an address no customer has; nothing recorded" in messages(capsys, "INFO")


def test_firestore_down_while_recording_answers_200_and_logs_an_error(client, conversation, settings_env, capsys):
    hole = BlackHole()
    settings_env(FIRESTORE_EMULATOR_HOST=hole.host_port, WEBHOOK_DEADLINE_S="0.8")
    try:
        response = customer_writes(client, conversation, "STOP")
    finally:
        hole.close()
    assert (response.status_code, response.get_json()) == (200, {})
    errors = messages(capsys, "ERROR")
    assert len(errors) == 1 and errors[0].endswith("; the customer's opt-out was not recorded")


# --- refusing a worker's message (onMessageAdd) -----------------------------------------------


def test_a_worker_message_to_a_customer_who_opted_out_is_refused_with_the_reason(client, store, conversation, capsys):
    customer_writes(client, conversation, "STOP")
    day = opt_out_fields(store)["opted_out_changed_at"][:10]
    capsys.readouterr()
    response = worker_writes(client, conversation)
    assert response.status_code == 403
    reason = response.get_json()["error"]
    assert reason == f"This customer opted out of messages on {day} (they texted STOP). They must text START before you can message them."
    assert messages(capsys, "WARNING") == [f"rejected: {reason}"]


def test_a_worker_message_passes_while_the_customer_has_not_opted_out(client, conversation):
    response = worker_writes(client, conversation)
    assert (response.status_code, response.get_json()) == (200, {})


def test_the_customers_own_message_passes_after_opting_out_without_any_lookup(client, conversation, twilio):
    customer_writes(client, conversation, "STOP")
    twilio.requests.clear()
    form = webhook_forms.message("onMessageAdd", conversation, body="Actually, one more question", author=ADA_ADDRESS,
                                 participant_sid=CUSTOMER_PARTICIPANT, from_customer=True)
    response = signed_post(client, form)
    assert (response.status_code, response.get_json()) == (200, {})
    assert twilio.calls() == []


def test_a_message_from_the_customers_participant_passes_even_when_source_says_api(client, conversation):
    customer_writes(client, conversation, "STOP")
    form = webhook_forms.message("onMessageAdd", conversation, body="hi", author=ADA_ADDRESS, participant_sid=CUSTOMER_PARTICIPANT,
                                 from_customer=False)
    assert signed_post(client, form).status_code == 200


def test_the_customer_is_found_by_address_when_no_customer_id_was_written_yet(client, store, twilio):
    store.upsert("ada", {**ADA, "opted_out": True, "opted_out_changed_at": "2026-11-26T12:00:00Z"})
    sid = "CH" + uuid.uuid4().hex
    twilio.add_participant(sid, CUSTOMER_PARTICIPANT, address="whatsapp:" + ADA_ADDRESS)
    response = worker_writes(client, sid)
    assert response.status_code == 403 and "on 2026-11-26" in response.get_json()["error"]


def test_a_conversation_without_a_known_customer_passes(client, store, twilio, capsys):
    store.upsert("ada", {**ADA, "opted_out": True})
    sid = "CH" + uuid.uuid4().hex
    twilio.add_participant(sid, CUSTOMER_PARTICIPANT, address="+15550009999")
    twilio.add_participant(sid, WORKER_PARTICIPANT, identity=ALICE)
    assert worker_writes(client, sid).status_code == 200
    assert "no known customer in this conversation; message passed" in messages(capsys, "INFO")


def test_the_customers_of_a_conversation_are_read_once_but_a_new_stop_counts_at_once(client, conversation, twilio):
    assert worker_writes(client, conversation).status_code == 200
    customer_writes(client, conversation, "STOP")
    assert worker_writes(client, conversation).status_code == 403
    listed = [call for call in twilio.calls("GET") if call.path == f"/v1/Conversations/{conversation}/Participants"]
    assert len(listed) == 1, "the conversation's customers are cached per instance"


@pytest.mark.parametrize("firestore", ["hung", "refusing"])
def test_firestore_down_lets_the_worker_message_through_and_logs_an_error(client, store, twilio, settings_env, capsys, firestore):
    store.upsert("ada", {**ADA, "opted_out": True})
    sid = "CH" + uuid.uuid4().hex
    twilio.add_participant(sid, CUSTOMER_PARTICIPANT, address=ADA_ADDRESS, attributes=json.dumps({"customer_id": "ada"}))
    hole = BlackHole()
    if firestore == "refusing":
        hole.close()
    settings_env(FIRESTORE_EMULATOR_HOST=hole.host_port, WEBHOOK_DEADLINE_S="0.8")
    try:
        response = worker_writes(client, sid)
    finally:
        hole.close()
    assert (response.status_code, response.get_json()) == (200, {})
    errors = messages(capsys, "ERROR")
    assert len(errors) == 1 and errors[0].endswith("; opt-out state unknown, message passed")


def test_twilio_failing_lets_the_worker_message_through_and_logs_an_error(client, store, twilio, settings_env, capsys):
    store.upsert("ada", {**ADA, "opted_out": True})
    sid = "CH" + uuid.uuid4().hex
    twilio.inject_always("GET", f"/v1/Conversations/{sid}/Participants", Fault(status=503))
    settings_env(WEBHOOK_DEADLINE_S="1.0")
    response = worker_writes(client, sid)
    assert (response.status_code, response.get_json()) == (200, {})
    errors = messages(capsys, "ERROR")
    assert len(errors) == 1 and errors[0].startswith("participant list failed after") and errors[0].endswith("; opt-out state unknown, message passed")


# --- where the state shows ----------------------------------------------------------------


def test_the_worker_sees_the_opt_out_in_the_customer_details(client, store, conversation):
    customer_writes(client, conversation, "STOP")
    response = signed_post(client, webhook_forms.frontline("GetCustomerDetailsByCustomerId", ALICE, CustomerId="ada"))
    details = response.get_json()["objects"]["customer"]["details"]
    assert details["title"] == "Notes"
    assert details["content"].startswith("Opted out of messages on ") and details["content"].endswith("Prefers SMS.")


def test_the_data_tool_exports_the_state_and_a_reimport_without_it_keeps_it(client, store, conversation, tmp_path, capsys):
    from tools.customers import main as customers_tool

    customer_writes(client, conversation, "STOP")
    recorded = opt_out_fields(store)
    exported = tmp_path / "customers.csv"
    assert customers_tool(["export", str(exported)]) == 0
    header, row = exported.read_text().splitlines()[:2]
    assert header.endswith(",opted_out,opted_out_changed_at")
    assert row.endswith(f",true,{recorded['opted_out_changed_at']}")

    # A CRM export that knows nothing of opt-out: the customer's STOP survives it.
    without = tmp_path / "crm.csv"
    without.write_text(f"customer_id,display_name,avatar,sms\nada,Ada L.,{ADA['avatar']},{ADA_ADDRESS}\n")
    assert customers_tool(["import", str(without)]) == 0
    assert store.get("ada")["display_name"] == "Ada L." and opt_out_fields(store) == recorded

    # Naming the column sets it; re-importing the export changes nothing else.
    assert customers_tool(["import", str(exported)]) == 0
    assert opt_out_fields(store) == recorded and store.get("ada")["display_name"] == "Ada Lovelace"
    capsys.readouterr()
    cleared = tmp_path / "cleared.csv"
    cleared.write_text(exported.read_text().replace(f",true,{recorded['opted_out_changed_at']}", ",false,2026-12-01T00:00:00Z"))
    assert customers_tool(["import", str(cleared)]) == 0
    assert opt_out_fields(store) == {"opted_out": False, "opted_out_changed_at": "2026-12-01T00:00:00Z"}
    assert "updated 1" in capsys.readouterr().out
    assert worker_writes(client, conversation).status_code == 200


def test_json_export_keeps_the_flag_a_boolean(client, store, conversation):
    from tools.customers import main as customers_tool

    customer_writes(client, conversation, "STOP")
    out = io.StringIO()
    import contextlib

    with contextlib.redirect_stdout(out):
        assert customers_tool(["export", "-"]) == 0
    [ada] = json.loads(out.getvalue())
    assert ada["opted_out"] is True


# --- subscribing the events -------------------------------------------------------------------


def test_twilio_setup_adds_the_message_events_to_an_account_set_up_before_opt_out(twilio, capsys):
    from tools import twilio_setup

    url = "https://frontline.example.com/"
    twilio.set_webhook_configuration(pre_webhook_url=url, post_webhook_url=url, method="POST", target="webhook",
                                     filters=["onConversationAdd", "onParticipantAdded"])
    assert twilio_setup.main(["apply", "--url", url]) == 0
    assert twilio.webhook_configuration["filters"] == ["onConversationAdd", "onParticipantAdded", "onMessageAdd", "onMessageAdded"]
    assert "+ filters           onConversationAdd, onParticipantAdded, onMessageAdd, onMessageAdded" in capsys.readouterr().out
