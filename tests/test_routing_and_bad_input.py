"""Routing and refusals end to end: what the function answers, and logs, for requests it
cannot or will not handle. Nothing here may ever be a 500 or leak a trace or a secret."""

from __future__ import annotations

import json
import socket
from urllib.parse import urlencode

import pytest

from tests.conftest import AUTH_TOKEN, CONVERSATION_SID, PARTICIPANT_SID, PROJECT, json_logs, sign, signed_post

ADA_ADDRESS = "+15558675310"
ADA = {
    "display_name": "Ada Lovelace",
    "avatar": "https://example.com/ada.png",
    "channels": [{"type": "sms", "value": ADA_ADDRESS}, {"type": "whatsapp", "value": "whatsapp:+15558675311"}],
}
TRACE_ID = "105445aa7843bc8bf206b12000100000"


def conversation_add(client, address=ADA_ADDRESS, **extra):
    params = {"EventType": "onConversationAdd", "ChatServiceSid": "IS" + "0" * 32, "State": "active", **extra}
    if address is not None:
        params["MessagingBinding.Address"] = address
        params["MessagingBinding.ProxyAddress"] = "+15005550006"
    return signed_post(client, params)


def participant_added(client, address=ADA_ADDRESS, **extra):
    params = {"EventType": "onParticipantAdded", "ConversationSid": CONVERSATION_SID, "ParticipantSid": PARTICIPANT_SID,
              "MessagingBinding.Address": address, "MessagingBinding.Type": "sms", "Attributes": "{}", **extra}
    return signed_post(client, {k: v for k, v in params.items() if v is not None})


def assert_one_line_rejection(response, capsys, status):
    """The body is {"error": "<one line>"} and that same line is logged at WARNING."""
    assert response.status_code == status
    assert response.mimetype == "application/json"
    body = json.loads(response.data)
    assert isinstance(body, dict) and list(body) == ["error"]
    reason = body["error"]
    assert isinstance(reason, str) and reason.strip() and "\n" not in reason and "\r" not in reason
    for leak in ("Traceback", ".py", 'File "', "werkzeug", "flask", "functions_framework", "google.", "twilio.", AUTH_TOKEN):
        assert leak not in reason
    lines = json_logs(capsys.readouterr().out)
    warnings = [line for line in lines if line["severity"] == "WARNING" and reason in line["message"]]
    assert warnings, f"{reason!r} not logged at WARNING in {lines}"
    return reason, lines


@pytest.fixture()
def ada(store):
    store.upsert("ada", ADA)


# --- routing -----------------------------------------------------------------------------

def test_unknown_event_type_answers_200_empty_and_warns(client, capsys):
    response = signed_post(client, {"EventType": "onMessageUpdate", "Body": "hi"})
    assert response.status_code == 200
    assert response.get_json() == {}
    warnings = [line for line in json_logs(capsys.readouterr().out) if line["severity"] == "WARNING"]
    assert len(warnings) == 1 and "onMessageUpdate" in warnings[0]["message"]


def test_unknown_post_event_type_also_answers_200(client, capsys):
    response = signed_post(client, {"EventType": "onConversationStateUpdated"})
    assert (response.status_code, response.get_json()) == (200, {})
    assert any(line["severity"] == "WARNING" for line in json_logs(capsys.readouterr().out))


def test_neither_event_type_nor_location_is_400_with_reason(client, capsys):
    response = signed_post(client, {"ChatServiceSid": "IS" + "0" * 32})
    reason, _ = assert_one_line_rejection(response, capsys, 400)
    assert "EventType" in reason and "Location" in reason


def test_an_empty_signed_post_is_400(client, capsys):
    response = signed_post(client, {})
    assert_one_line_rejection(response, capsys, 400)


def test_unknown_location_is_422_with_reason(client, capsys):
    response = signed_post(client, {"Location": "GetSomethingNew", "Worker": "joe@example.com"})
    reason, _ = assert_one_line_rejection(response, capsys, 422)
    assert "GetSomethingNew" in reason


def test_a_location_of_another_family_at_a_family_path_is_422(client, store, capsys):
    # /templates serves only GetTemplatesByCustomerId; a CRM Location sent there is not routed to the CRM.
    response = signed_post(client, {"Location": "GetCustomersList", "Worker": "joe@example.com", "PageSize": "30"}, path="/templates")
    reason, _ = assert_one_line_rejection(response, capsys, 422)
    assert "GetCustomersList" in reason


def test_a_family_path_without_location_is_400_naming_it(client, capsys):
    response = signed_post(client, {"Worker": "joe@example.com"}, path="/crm")
    reason, _ = assert_one_line_rejection(response, capsys, 400)
    assert "Location" in reason


def test_conversations_path_without_event_type_is_400_naming_it(client, capsys):
    response = signed_post(client, {"ChatServiceSid": "IS" + "0" * 32}, path="/conversations")
    reason, _ = assert_one_line_rejection(response, capsys, 400)
    assert "EventType" in reason


def test_conversations_path_routes_to_the_conversations_handler(client, ada):
    response = conversation_add_at(client, "/conversations")
    assert response.status_code == 200
    assert response.get_json()["friendly_name"] == "Ada Lovelace"


def conversation_add_at(client, path):
    params = {"EventType": "onConversationAdd", "MessagingBinding.Address": ADA_ADDRESS}
    return signed_post(client, params, path=path)


# --- method, size, content type ---------------------------------------------------------------

@pytest.mark.parametrize("method", ["PUT", "DELETE", "PATCH"])
def test_other_methods_are_405_with_allow_even_unsigned(client, capsys, method):
    response = client.open("/", method=method, data="EventType=onConversationAdd",
                           content_type="application/x-www-form-urlencoded")
    reason, _ = assert_one_line_rejection(response, capsys, 405)
    assert method in reason
    allowed = {m.strip() for m in response.headers["Allow"].split(",")}
    assert allowed == {"POST", "GET"}


@pytest.mark.parametrize("method", ["PUT", "DELETE", "PATCH"])
def test_other_methods_are_405_even_when_signed(client, capsys, method):
    params = {"EventType": "onConversationAdd"}
    response = client.open("/", method=method, data=urlencode(params), content_type="application/x-www-form-urlencoded",
                           headers={"X-Twilio-Signature": sign("http://localhost/", params)})
    assert_one_line_rejection(response, capsys, 405)
    assert "Allow" in response.headers


def test_two_megabyte_body_is_413_before_the_signature_check(client, capsys):
    body = "EventType=onConversationAdd&Attributes=" + "x" * (2 * 1024 * 1024)
    response = client.post("/", data=body, content_type="application/x-www-form-urlencoded")  # unsigned
    assert_one_line_rejection(response, capsys, 413)


def test_two_megabyte_body_is_413_when_signed_too(client, capsys):
    params = {"EventType": "onConversationAdd", "Attributes": "x" * (2 * 1024 * 1024)}
    response = signed_post(client, params)
    assert_one_line_rejection(response, capsys, 413)


def test_body_at_a_configured_limit_is_admitted_and_one_byte_more_is_413(client, settings_env, capsys):
    settings_env(MAX_BODY_BYTES="1000")
    base = {"EventType": "onUnknownThing"}
    filler = 1000 - len(urlencode({**base, "Pad": ""}))
    at_limit = {**base, "Pad": "p" * filler}
    assert len(urlencode(at_limit)) == 1000
    assert signed_post(client, at_limit).status_code == 200
    capsys.readouterr()
    over = {**base, "Pad": "p" * (filler + 1)}
    assert_one_line_rejection(signed_post(client, over), capsys, 413)


def test_signed_post_with_a_json_body_is_400(client, capsys):
    # Signed over the URL alone (a JSON body has no form parameters to sign), so it passes the gate.
    response = client.post("/", data=json.dumps({"EventType": "onConversationAdd"}), content_type="application/json",
                           headers={"X-Twilio-Signature": sign("http://localhost/", {})})
    reason, _ = assert_one_line_rejection(response, capsys, 400)
    assert "x-www-form-urlencoded" in reason


def test_unsigned_post_with_a_json_body_is_403(client, capsys):
    response = client.post("/", json={"EventType": "onConversationAdd"})
    assert_one_line_rejection(response, capsys, 403)


# --- malformed fields -------------------------------------------------------------------------

@pytest.mark.parametrize("attributes", ["{not json", "[1, 2]", "null", '"a string"', "42", "\x00\xff", "{" * 5000, "[" * 16000],  # 16 KB: the most Attributes Twilio sends
                         ids=["broken", "list", "null", "string", "number", "binary", "unclosed", "nested-too-deep"])
def test_attributes_that_are_not_a_json_object_never_fail_conversation_add(client, ada, attributes):
    response = conversation_add(client, Attributes=attributes)
    assert response.status_code == 200
    assert response.get_json() == {"friendly_name": "Ada Lovelace"}


def test_attributes_that_are_not_json_for_an_unknown_customer_still_200(client, store):
    response = conversation_add(client, "+15550001111", Attributes="{bad")
    assert response.status_code == 200
    assert response.get_json() == {"friendly_name": "+15550001111"}


@pytest.mark.parametrize("address", ["   ", "whatsapp:", "a" * 3000, "../../etc", "__name__", "%2F"])
def test_odd_addresses_never_fail_conversation_add(client, store, address):
    response = conversation_add(client, address)
    assert response.status_code == 200
    assert set(response.get_json()) <= {"friendly_name"}


def test_customer_participant_without_conversation_sid_is_400_naming_it(client, ada, twilio, capsys):
    response = participant_added(client, ConversationSid=None)
    reason, _ = assert_one_line_rejection(response, capsys, 400)
    assert "ConversationSid" in reason
    assert twilio.calls() == []


def test_customer_participant_without_participant_sid_is_400_naming_it(client, ada, twilio, capsys):
    response = participant_added(client, ParticipantSid=None)
    reason, _ = assert_one_line_rejection(response, capsys, 400)
    assert "ParticipantSid" in reason and "ConversationSid" not in reason
    assert twilio.calls() == []


def test_worker_participant_without_conversation_sid_is_200(client, twilio):
    # Workers are never written, so a missing sid does not matter for them.
    response = participant_added(client, address=None, Identity="joe@example.com", ConversationSid=None)
    assert (response.status_code, response.get_json()) == (200, {})
    assert twilio.calls() == []


# --- every refusal has the same shape -------------------------------------------------------

REFUSALS = {
    "405 method": (405, lambda c: c.put("/", data="EventType=onConversationAdd")),
    "413 size": (413, lambda c: c.post("/", data="x" * (1024 * 1024), content_type="application/x-www-form-urlencoded")),
    "403 missing signature": (403, lambda c: c.post("/", data="EventType=onConversationAdd", content_type="application/x-www-form-urlencoded")),
    "403 wrong token": (403, lambda c: signed_post(c, {"EventType": "onConversationAdd"}, token="wrong")),
    "400 json body": (400, lambda c: c.post("/", data="{}", content_type="application/json",
                                            headers={"X-Twilio-Signature": sign("http://localhost/", {})})),
    "400 no event type": (400, lambda c: signed_post(c, {"Foo": "bar"})),
    "422 location": (422, lambda c: signed_post(c, {"Location": "GetNothing"})),
    "400 participant sid": (400, lambda c: participant_added(c, ConversationSid=None)),
}


@pytest.mark.parametrize("case", list(REFUSALS))
def test_every_refusal_is_a_one_line_json_error_logged_at_warning(client, store, capsys, case):
    status, send = REFUSALS[case]
    response = send(client)
    _, lines = assert_one_line_rejection(response, capsys, status)
    done = [line for line in lines if line["message"] == "request done"]
    assert len(done) == 1 and done[0]["status"] == status


# --- log lines --------------------------------------------------------------------------------

def send_a_mix(client, twilio):
    """A request of every kind: handled, unhandled, refused, and a participant write over REST."""
    twilio.add_participant(CONVERSATION_SID, PARTICIPANT_SID, address=ADA_ADDRESS)
    trace = {"X-Cloud-Trace-Context": f"{TRACE_ID}/1;o=1"}
    responses = [
        conversation_add(client),
        conversation_add(client, "whatsapp:+15558675311"),
        conversation_add(client, "+15550001111"),
        participant_added(client),
        participant_added(client, ConversationSid=None),
        signed_post(client, {"EventType": "onSomethingNew"}, headers=trace),
        signed_post(client, conversation_params(), token="wrong", headers=trace),
        client.post("/", data=urlencode(conversation_params()), content_type="application/x-www-form-urlencoded"),
    ]
    return [r.status_code for r in responses]


def conversation_params():
    return {"EventType": "onConversationAdd", "MessagingBinding.Address": ADA_ADDRESS}


def test_every_stdout_line_is_a_json_log_entry_with_severity_and_message(client, ada, twilio, capsys):
    statuses = send_a_mix(client, twilio)
    assert statuses == [200, 200, 200, 200, 400, 200, 403, 403]
    out = capsys.readouterr().out
    lines = [line for line in out.splitlines() if line.strip()]
    assert [json.loads(line)["message"] for line in lines].count("request done") == len(statuses)
    for line in lines:
        entry = json.loads(line)
        assert entry["severity"] in {"DEBUG", "INFO", "WARNING", "ERROR", "CRITICAL"}
        assert isinstance(entry["message"], str) and entry["message"]


def test_trace_header_becomes_the_cloud_logging_trace_field_on_every_line(client, ada, capsys):
    # An event we do not handle: its WARNING and the "request done" line, two lines of one request.
    response = signed_post(client, {**conversation_params(), "EventType": "onSomethingNew"},
                           headers={"X-Cloud-Trace-Context": f"{TRACE_ID}/1;o=1"})
    assert response.status_code == 200
    lines = json_logs(capsys.readouterr().out)
    assert [line["severity"] for line in lines] == ["WARNING", "INFO"]
    for line in lines:
        assert line["logging.googleapis.com/trace"] == f"projects/{PROJECT}/traces/{TRACE_ID}"


def test_trace_field_is_on_refusal_lines_too(client, capsys):
    response = client.put("/", headers={"X-Cloud-Trace-Context": f"{TRACE_ID}/1;o=1"})
    assert response.status_code == 405
    lines = json_logs(capsys.readouterr().out)
    assert lines and all(line["logging.googleapis.com/trace"] == f"projects/{PROJECT}/traces/{TRACE_ID}" for line in lines)


def test_no_trace_field_without_the_header_and_none_leaks_between_requests(client, ada, capsys):
    signed_post(client, conversation_params(), headers={"X-Cloud-Trace-Context": f"{TRACE_ID}/1;o=1"})
    capsys.readouterr()
    response = signed_post(client, conversation_params())
    assert response.status_code == 200
    lines = json_logs(capsys.readouterr().out)
    assert lines and all("logging.googleapis.com/trace" not in line for line in lines)


def full_number_forms(number: str) -> list[str]:
    digits = number.lstrip("+")
    return [number, digits, digits[1:], digits[:-4]]


def test_addresses_are_masked_to_the_last_four_digits_in_every_log_line(client, ada, twilio, capsys):
    send_a_mix(client, twilio)
    out = capsys.readouterr().out
    for number in ("+15558675310", "+15558675311", "+15550001111"):
        for form in full_number_forms(number):
            assert form not in out, f"{form} appears in the logs"
    lines = json_logs(out)
    masked = {line.get("address") for line in lines if line.get("address")}
    assert {"***5310", "***5311", "***1111"} <= masked
    assert all(value.startswith("***") and len(value) == 7 for value in masked)


def test_address_is_masked_when_the_lookup_fails(client, settings_env, capsys):
    # A closed port: Firestore refuses. The failure is logged, but never with the number in it.
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        closed = "127.0.0.1:%d" % sock.getsockname()[1]
    settings_env(FIRESTORE_EMULATOR_HOST=closed, WEBHOOK_DEADLINE_S="1.0")
    response = conversation_add(client, ADA_ADDRESS)
    assert response.status_code == 200
    out = capsys.readouterr().out
    assert any(line["severity"] == "ERROR" for line in json_logs(out))
    for form in full_number_forms(ADA_ADDRESS):
        assert form not in out


def test_the_auth_token_never_appears_in_any_log_line(client, ada, twilio, capsys):
    send_a_mix(client, twilio)
    assert twilio.attributes_of(CONVERSATION_SID, PARTICIPANT_SID)["customer_id"] == "ada"
    out = capsys.readouterr().out
    assert json_logs(out)
    assert AUTH_TOKEN not in out
    assert AUTH_TOKEN[:12] not in out
