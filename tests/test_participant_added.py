"""onParticipantAdded (post-event) end to end: signed request → real emulator → REST calls to
the Twilio stand-in, which holds the participant and records every request it is sent."""

from __future__ import annotations

import json
import time

import pytest

from gateways.twilio_rest import MAX_ATTEMPTS
from tests.conftest import ADA, ADA_ADDRESS, ADA_ATTRIBUTES, CONVERSATION_SID, PARTICIPANT_SID, json_logs, signed_post
from tools.twilio_sandbox import Fault

PARTICIPANT_PATH = f"/v1/Conversations/{CONVERSATION_SID}/Participants/{PARTICIPANT_SID}"


def participant_added(client, *, address: str | None = ADA_ADDRESS, identity: str | None = None, token: str | None = None):
    """The form Twilio posts for onParticipantAdded. `Attributes` is the stale value at creation
    time; the handler must read the participant fresh over REST instead."""
    params = {
        "EventType": "onParticipantAdded",
        "AccountSid": "AC" + "0123456789abcdef" * 2,
        "ChatServiceSid": "IS" + "0" * 32,
        "ConversationSid": CONVERSATION_SID,
        "ParticipantSid": PARTICIPANT_SID,
        "Attributes": "{}",
        "RoleSid": "RL" + "0" * 32,
        "DateCreated": "2026-11-26T12:00:00.000Z",
        "Source": "SMS",
        "RetryCount": "0",
    }
    if address is not None:
        params.update({"MessagingBinding.Address": address, "MessagingBinding.ProxyAddress": "+15005550006", "MessagingBinding.Type": "sms"})
    if identity is not None:
        params["Identity"] = identity
    return signed_post(client, params, **({"token": token} if token else {}))


def add_customer_participant(twilio, attributes: str = "{}") -> None:
    twilio.add_participant(CONVERSATION_SID, PARTICIPANT_SID, address=ADA_ADDRESS, attributes=attributes)


def logs_at(capsys, severity: str) -> list[dict]:
    return [line for line in json_logs(capsys.readouterr().out) if line["severity"] == severity]


# --- writing the profile onto the customer participant --------------------------------------


def test_customer_participant_gets_customer_id_name_and_avatar(client, store, twilio, capsys):
    store.upsert("ada", ADA)
    add_customer_participant(twilio)
    response = participant_added(client)
    assert response.status_code == 200
    assert twilio.attributes_of(CONVERSATION_SID, PARTICIPANT_SID) == ADA_ATTRIBUTES
    assert [(r.method, r.path) for r in twilio.calls()] == [("GET", PARTICIPANT_PATH), ("POST", PARTICIPANT_PATH)]
    assert any(line["message"] == "participant attributes written" for line in json_logs(capsys.readouterr().out))


def test_update_sends_only_attributes_and_does_not_trigger_another_webhook(client, store, twilio):
    store.upsert("ada", ADA)
    add_customer_participant(twilio)
    participant_added(client)
    [post] = twilio.calls("POST")
    assert set(post.form) == {"Attributes"}, "only Attributes may be sent; other fields would overwrite the participant"
    assert "x-twilio-webhook-enabled" not in {name.lower() for name in post.headers}


def test_whatsapp_spelling_of_the_address_finds_the_same_customer(client, store, twilio):
    store.upsert("ada", ADA)
    add_customer_participant(twilio)
    participant_added(client, address="whatsapp:" + ADA_ADDRESS)
    assert twilio.attributes_of(CONVERSATION_SID, PARTICIPANT_SID) == ADA_ATTRIBUTES


def test_existing_non_empty_values_win_and_profile_fills_the_gaps(client, store, twilio):
    store.upsert("ada", ADA)
    add_customer_participant(twilio, json.dumps({"customer_id": "crm-42", "display_name": "", "avatar": None}))
    participant_added(client)
    assert twilio.attributes_of(CONVERSATION_SID, PARTICIPANT_SID) == {
        "customer_id": "crm-42",
        "display_name": "Ada Lovelace",
        "avatar": "https://example.com/ada.png",
    }


def test_unrelated_attribute_keys_are_kept(client, store, twilio):
    store.upsert("ada", ADA)
    others = {"source": "campaign-7", "nested": {"a": [1, 2], "ü": "✓"}, "count": 3, "flag": False}
    add_customer_participant(twilio, json.dumps(others))
    participant_added(client)
    assert twilio.attributes_of(CONVERSATION_SID, PARTICIPANT_SID) == {**others, **ADA_ATTRIBUTES}


def test_nothing_to_change_means_no_update_request(client, store, twilio, capsys):
    store.upsert("ada", ADA)
    own = {"customer_id": "crm-42", "display_name": "Ada L.", "avatar": "https://example.com/own.png", "vip": True}
    add_customer_participant(twilio, json.dumps(own))
    response = participant_added(client)
    assert response.status_code == 200
    assert len(twilio.calls("GET")) == 1
    assert twilio.calls("POST") == []
    assert twilio.attributes_of(CONVERSATION_SID, PARTICIPANT_SID) == own
    assert not logs_at(capsys, "ERROR")


def test_profile_without_avatar_writes_no_avatar_key(client, store, twilio):
    store.upsert("ada", {**ADA, "avatar": None})
    add_customer_participant(twilio)
    participant_added(client)
    assert twilio.attributes_of(CONVERSATION_SID, PARTICIPANT_SID) == {"customer_id": "ada", "display_name": "Ada Lovelace"}


# --- nobody to write to -----------------------------------------------------------------------


@pytest.mark.parametrize("address", [None, ADA_ADDRESS], ids=["identity-only", "identity-and-address"])
def test_worker_participant_causes_no_twilio_call(client, store, twilio, address):
    store.upsert("ada", ADA)
    twilio.add_participant(CONVERSATION_SID, PARTICIPANT_SID, identity="alice@example.com")
    response = participant_added(client, address=address, identity="alice@example.com")
    assert response.status_code == 200
    assert twilio.calls() == []


def test_unknown_customer_causes_no_twilio_call(client, store, twilio, capsys):
    store.upsert("ada", ADA)
    twilio.add_participant(CONVERSATION_SID, PARTICIPANT_SID, address="+15550001111")
    response = participant_added(client, address="+15550001111")
    assert response.status_code == 200
    assert twilio.calls() == []
    assert not logs_at(capsys, "ERROR")


@pytest.mark.parametrize("attributes", ["{not json", "[1, 2]", '"a string"', "42"])
def test_attributes_that_are_not_a_json_object_are_left_alone_with_a_warning(client, store, twilio, capsys, attributes):
    store.upsert("ada", ADA)
    add_customer_participant(twilio, attributes)
    response = participant_added(client)
    assert response.status_code == 200
    assert len(twilio.calls("GET")) == 1
    assert twilio.calls("POST") == []
    assert twilio.participants[(CONVERSATION_SID, PARTICIPANT_SID)]["attributes"] == attributes
    warnings = logs_at(capsys, "WARNING")
    assert any("not a JSON object" in line["message"] for line in warnings)


# --- Twilio faults: bounded retries inside the deadline ---------------------------------------


def test_404_on_fetch_while_the_conversation_initialises_is_retried_then_written(client, store, twilio):
    store.upsert("ada", ADA)
    add_customer_participant(twilio)
    twilio.inject("GET", PARTICIPANT_PATH, Fault(status=404))
    response = participant_added(client)
    assert response.status_code == 200
    assert len(twilio.calls("GET")) == 2
    assert twilio.attributes_of(CONVERSATION_SID, PARTICIPANT_SID) == ADA_ATTRIBUTES


def test_5xx_on_update_is_retried_then_written(client, store, twilio):
    store.upsert("ada", ADA)
    add_customer_participant(twilio)
    twilio.inject("POST", PARTICIPANT_PATH, Fault(status=503))
    participant_added(client)
    assert len(twilio.calls("POST")) == 2
    assert twilio.attributes_of(CONVERSATION_SID, PARTICIPANT_SID) == ADA_ATTRIBUTES


def test_connection_reset_on_fetch_is_retried_then_written(client, store, twilio):
    store.upsert("ada", ADA)
    add_customer_participant(twilio)
    twilio.inject("GET", PARTICIPANT_PATH, Fault(reset=True))
    response = participant_added(client)
    assert response.status_code == 200
    assert len(twilio.calls("GET")) == 2
    assert twilio.attributes_of(CONVERSATION_SID, PARTICIPANT_SID) == ADA_ATTRIBUTES


def test_500_forever_gives_up_inside_the_deadline_with_an_error(client, store, twilio, settings_env, capsys):
    settings_env(WEBHOOK_DEADLINE_S="1.0")
    store.upsert("ada", ADA)
    add_customer_participant(twilio)
    twilio.inject_always("GET", PARTICIPANT_PATH, Fault(status=500))
    started = time.monotonic()
    response = participant_added(client)
    elapsed = time.monotonic() - started
    assert response.status_code == 200
    assert elapsed < 1.0 + 0.5, f"answered after {elapsed:.2f}s, deadline 1.0s"
    attempts = len(twilio.calls("GET"))
    assert 2 <= attempts <= MAX_ATTEMPTS, f"{attempts} fetch attempts"
    assert twilio.calls("POST") == []
    errors = logs_at(capsys, "ERROR")
    assert len(errors) == 1 and "participant fetch" in errors[0]["message"] and "500" in errors[0]["message"]


def test_500_forever_with_a_long_deadline_stops_at_the_attempt_budget(client, store, twilio, settings_env, capsys):
    settings_env(WEBHOOK_DEADLINE_S="4.5")
    store.upsert("ada", ADA)
    add_customer_participant(twilio)
    twilio.inject_always("GET", PARTICIPANT_PATH, Fault(status=500))
    started = time.monotonic()
    participant_added(client)
    elapsed = time.monotonic() - started
    assert len(twilio.calls("GET")) == MAX_ATTEMPTS
    assert elapsed < 4.5 + 0.5, f"answered after {elapsed:.2f}s, deadline 4.5s"
    assert logs_at(capsys, "ERROR")


def test_429_retry_after_is_honoured(client, store, twilio):
    store.upsert("ada", ADA)
    add_customer_participant(twilio)
    twilio.inject("GET", PARTICIPANT_PATH, Fault(status=429, headers={"Retry-After": "0.3"}))
    participant_added(client)
    first, second = twilio.calls("GET")
    assert second.at - first.at >= 0.25, f"retried {second.at - first.at:.3f}s after a Retry-After of 0.3s"
    assert twilio.attributes_of(CONVERSATION_SID, PARTICIPANT_SID) == ADA_ATTRIBUTES


def test_429_retry_after_beyond_the_deadline_gives_up_at_once(client, store, twilio, settings_env, capsys):
    settings_env(WEBHOOK_DEADLINE_S="1.0")
    store.upsert("ada", ADA)
    add_customer_participant(twilio)
    twilio.inject("GET", PARTICIPANT_PATH, Fault(status=429, headers={"Retry-After": "30"}))
    started = time.monotonic()
    response = participant_added(client)
    elapsed = time.monotonic() - started
    assert response.status_code == 200
    assert elapsed < 1.0 + 0.5, f"answered after {elapsed:.2f}s, deadline 1.0s"
    assert len(twilio.calls("GET")) == 1
    assert any("429" in line["message"] for line in logs_at(capsys, "ERROR"))


def test_twilio_slower_than_the_deadline_gives_up_by_the_deadline(client, store, twilio, settings_env, capsys):
    settings_env(WEBHOOK_DEADLINE_S="1.0")
    store.upsert("ada", ADA)
    add_customer_participant(twilio)
    twilio.inject_always("GET", PARTICIPANT_PATH, Fault(delay_s=2.5))
    started = time.monotonic()
    response = participant_added(client)
    elapsed = time.monotonic() - started
    assert response.status_code == 200
    assert elapsed < 1.0 + 0.5, f"answered after {elapsed:.2f}s, deadline 1.0s"
    assert twilio.calls("POST") == []
    assert twilio.attributes_of(CONVERSATION_SID, PARTICIPANT_SID) == {}
    assert logs_at(capsys, "ERROR")


# --- duplicates and configuration faults --------------------------------------------------------


def test_same_event_delivered_twice_writes_once(client, store, twilio):
    store.upsert("ada", ADA)
    add_customer_participant(twilio, '{"source": "campaign-7"}')
    first = participant_added(client)
    second = participant_added(client)
    assert (first.status_code, second.status_code) == (200, 200)
    assert len(twilio.calls("POST")) == 1
    assert twilio.attributes_of(CONVERSATION_SID, PARTICIPANT_SID) == {"source": "campaign-7", **ADA_ATTRIBUTES}


def test_wrong_auth_token_is_logged_not_retried_and_still_answers_200(client, store, twilio, settings_env, capsys):
    wrong = "wrong-auth-token-fedcba9876543210"
    settings_env(TWILIO_AUTH_TOKEN=wrong)
    store.upsert("ada", ADA)
    add_customer_participant(twilio)
    response = participant_added(client, token=wrong)
    assert response.status_code == 200
    assert [(r.method, r.path) for r in twilio.calls()] == [("GET", PARTICIPANT_PATH)]
    output = capsys.readouterr().out
    errors = [line for line in json_logs(output) if line["severity"] == "ERROR"]
    assert len(errors) == 1 and "401" in errors[0]["message"]
    assert wrong not in output, "the auth token must never be logged"
    assert twilio.attributes_of(CONVERSATION_SID, PARTICIPANT_SID) == {}
