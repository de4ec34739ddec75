"""X-Twilio-Signature end to end: only requests Twilio really signed, for the URL it really
called, reach a handler. Everything goes through the real functions-framework app.

The Flask test client serves on Host "localhost" over http, so without a proxy or
PUBLIC_URL the URL Twilio would have signed is http://localhost/<path>.
"""

from __future__ import annotations

import json
from urllib.parse import urlencode

import pytest

from tests.conftest import ADA, ADA_ADDRESS, AUTH_TOKEN, CONVERSATION_SID, PARTICIPANT_SID, json_logs, sign, signed_post

PUBLIC_URL = "https://region-proj.cloudfunctions.net/frontline_webhook"


def conversation_add_params(**extra):
    return {
        "EventType": "onConversationAdd",
        "ChatServiceSid": "IS" + "0" * 32,
        "MessagingBinding.Address": ADA_ADDRESS,
        "MessagingBinding.ProxyAddress": "+15005550006",
        "State": "active",
        **extra,
    }


def post_form(client, params, signature, *, path="/", headers=None):
    """POST a form with a given signature (or none), exactly as the caller chooses."""
    all_headers = dict(headers or {})
    if signature is not None:
        all_headers["X-Twilio-Signature"] = signature
    return client.post(path, data=urlencode(params, doseq=True), content_type="application/x-www-form-urlencoded", headers=all_headers)


def messages(capsys) -> list[str]:
    return [line["message"] for line in json_logs(capsys.readouterr().out)]


def assert_rejected_before_any_handler(response, capsys, status=403):
    """The refusal is a JSON one-liner, and the only log lines are the refusal and the summary."""
    assert response.status_code == status
    assert response.mimetype == "application/json"
    body = response.get_json()
    assert list(body) == ["error"]
    assert "X-Twilio-Signature" in body["error"]
    # Every Conversations handler logs what it did (named, no customer, lookup failed, ...);
    # a refused request must log nothing but the refusal itself and the request summary.
    assert messages(capsys) == [f"rejected: {body['error']}", "request done"]


@pytest.fixture()
def ada(store):
    store.upsert("ada", ADA)


# --- the plain case ------------------------------------------------------------------------

def test_valid_signature_is_admitted_and_handled(client, ada, capsys):
    response = signed_post(client, conversation_add_params())
    assert response.status_code == 200
    assert response.get_json()["friendly_name"] == "Ada Lovelace"
    done = [line for line in json_logs(capsys.readouterr().out) if line["message"] == "request done"]
    assert done and done[0]["outcome"] == "conversation named from profile" and done[0]["status"] == 200


def test_missing_signature_header_is_403(client, ada, capsys):
    response = post_form(client, conversation_add_params(), None)
    assert_rejected_before_any_handler(response, capsys)
    assert "missing" in response.get_json()["error"]


def test_empty_signature_header_is_403(client, ada, capsys):
    response = post_form(client, conversation_add_params(), "")
    assert_rejected_before_any_handler(response, capsys)


def test_signature_made_with_another_token_is_403(client, ada, capsys):
    response = signed_post(client, conversation_add_params(), token="not-" + AUTH_TOKEN)
    assert_rejected_before_any_handler(response, capsys)
    assert "invalid" in response.get_json()["error"]


def test_garbage_signature_is_403(client, ada, capsys):
    response = post_form(client, conversation_add_params(), "not base64 at all!")
    assert_rejected_before_any_handler(response, capsys)


def test_one_parameter_tampered_is_403(client, ada, capsys):
    params = conversation_add_params()
    signature = sign("http://localhost/", params)
    tampered = {**params, "MessagingBinding.Address": "+15550001111"}
    assert_rejected_before_any_handler(post_form(client, tampered, signature), capsys)


def test_one_parameter_added_is_403(client, ada, capsys):
    params = conversation_add_params()
    signature = sign("http://localhost/", params)
    added = {**params, "Attributes": '{"injected": true}'}
    assert_rejected_before_any_handler(post_form(client, added, signature), capsys)


def test_one_parameter_removed_is_403(client, ada, capsys):
    params = conversation_add_params()
    signature = sign("http://localhost/", params)
    removed = {k: v for k, v in params.items() if k != "State"}
    assert_rejected_before_any_handler(post_form(client, removed, signature), capsys)


def test_signature_for_another_path_is_403(client, ada, capsys):
    params = conversation_add_params()
    signature = sign("http://localhost/other", params)
    assert_rejected_before_any_handler(post_form(client, params, signature), capsys)


def test_rejected_participant_event_never_calls_twilio(client, ada, twilio, capsys):
    twilio.add_participant(CONVERSATION_SID, PARTICIPANT_SID, address=ADA_ADDRESS)
    params = {"EventType": "onParticipantAdded", "ConversationSid": CONVERSATION_SID, "ParticipantSid": PARTICIPANT_SID,
              "MessagingBinding.Address": ADA_ADDRESS}
    response = signed_post(client, params, token="wrong-token")
    assert_rejected_before_any_handler(response, capsys)
    assert twilio.calls() == []
    assert twilio.attributes_of(CONVERSATION_SID, PARTICIPANT_SID) == {}


# --- scheme and host as Twilio saw them ----------------------------------------------------

def test_signed_for_http_but_served_as_https_is_403(client, ada, capsys):
    # The front end says Twilio called https; a signature over http:// is not Twilio's.
    response = signed_post(client, conversation_add_params(), headers={"X-Forwarded-Proto": "https"})
    assert_rejected_before_any_handler(response, capsys)


def test_signed_for_https_and_forwarded_as_https_is_admitted(client, ada):
    response = signed_post(client, conversation_add_params(), base="https://localhost", headers={"X-Forwarded-Proto": "https"})
    assert response.status_code == 200
    assert response.get_json()["friendly_name"] == "Ada Lovelace"


def test_signed_for_https_without_forwarded_proto_is_403(client, ada, capsys):
    # No proxy header: Flask's own scheme (http) is what counts.
    response = signed_post(client, conversation_add_params(), base="https://localhost")
    assert_rejected_before_any_handler(response, capsys)


def test_behind_a_proxy_the_forwarded_scheme_and_host_header_rebuild_the_url(client, ada):
    headers = {"X-Forwarded-Proto": "https", "Host": "example.test"}
    response = signed_post(client, conversation_add_params(), base="https://example.test", path="/", headers=headers)
    assert response.status_code == 200
    assert response.get_json()["friendly_name"] == "Ada Lovelace"


def test_behind_a_proxy_a_signature_for_another_host_is_403(client, ada, capsys):
    headers = {"X-Forwarded-Proto": "https", "Host": "example.test"}
    response = signed_post(client, conversation_add_params(), base="https://attacker.test", headers=headers)
    assert_rejected_before_any_handler(response, capsys)


def test_first_of_several_forwarded_schemes_counts(client, ada):
    headers = {"X-Forwarded-Proto": "https, http", "Host": "example.test"}
    response = signed_post(client, conversation_add_params(), base="https://example.test", headers=headers)
    assert response.status_code == 200


# --- PUBLIC_URL ------------------------------------------------------------------------------

def test_public_url_is_the_url_that_counts(client, ada, settings_env):
    settings_env(PUBLIC_URL=PUBLIC_URL)
    params = conversation_add_params()
    response = post_form(client, params, sign(PUBLIC_URL, params), path="/")
    assert response.status_code == 200
    assert response.get_json()["friendly_name"] == "Ada Lovelace"


def test_public_url_configured_in_twilio_with_a_trailing_slash_is_admitted(client, ada, settings_env):
    settings_env(PUBLIC_URL=PUBLIC_URL)
    params = conversation_add_params()
    response = post_form(client, params, sign(PUBLIC_URL + "/", params))
    assert response.status_code == 200
    assert response.get_json()["friendly_name"] == "Ada Lovelace"


def test_with_public_url_a_signature_for_the_flask_url_is_403(client, ada, settings_env, capsys):
    settings_env(PUBLIC_URL=PUBLIC_URL)
    response = signed_post(client, conversation_add_params())  # signed for http://localhost/
    assert_rejected_before_any_handler(response, capsys)


def test_public_url_with_a_path_suffix(client, ada, settings_env):
    settings_env(PUBLIC_URL=PUBLIC_URL)
    params = conversation_add_params()
    response = post_form(client, params, sign(PUBLIC_URL + "/conversations", params), path="/conversations")
    assert response.status_code == 200
    assert response.get_json()["friendly_name"] == "Ada Lovelace"


def test_public_url_path_suffix_must_be_part_of_the_signed_url(client, ada, settings_env, capsys):
    settings_env(PUBLIC_URL=PUBLIC_URL)
    params = conversation_add_params()
    response = post_form(client, params, sign(PUBLIC_URL, params), path="/conversations")
    assert_rejected_before_any_handler(response, capsys)


# --- query strings ---------------------------------------------------------------------------

def get_signed(client, query_params, *, signed_query=None, token=AUTH_TOKEN, path="/"):
    """A GET as Twilio sends it: parameters in the query, signature over the full URL only."""
    query = urlencode(query_params, doseq=True)
    signed = urlencode(signed_query if signed_query is not None else query_params, doseq=True)
    signature = sign(f"http://localhost{path}?{signed}", {}, token)
    return client.get(f"{path}?{query}", headers={"X-Twilio-Signature": signature})


def test_get_signed_over_the_full_url_is_admitted_and_its_query_is_used(client, ada):
    response = get_signed(client, conversation_add_params())
    assert response.status_code == 200
    assert response.get_json()["friendly_name"] == "Ada Lovelace"
    assert json.loads(response.get_json()["attributes"]) == {"avatar": "https://example.com/ada.png"}


def test_get_with_a_query_parameter_tampered_is_403(client, ada, capsys):
    signed = conversation_add_params()
    sent = {**signed, "MessagingBinding.Address": "+15550001111"}
    assert_rejected_before_any_handler(get_signed(client, sent, signed_query=signed), capsys)


def test_get_with_a_query_parameter_added_is_403(client, ada, capsys):
    signed = conversation_add_params()
    sent = {**signed, "Attributes": "{}"}
    assert_rejected_before_any_handler(get_signed(client, sent, signed_query=signed), capsys)


def test_get_signed_with_the_wrong_token_is_403(client, ada, capsys):
    assert_rejected_before_any_handler(get_signed(client, conversation_add_params(), token="wrong"), capsys)


def test_get_with_unicode_in_the_query(client, ada):
    attributes = json.dumps({"note": "café ☕ 日本"}, ensure_ascii=False)
    response = get_signed(client, conversation_add_params(Attributes=attributes))
    assert response.status_code == 200
    assert json.loads(response.get_json()["attributes"]) == {"note": "café ☕ 日本", "avatar": "https://example.com/ada.png"}


def test_post_with_a_query_string_is_signed_over_url_and_query(client, ada):
    params = conversation_add_params()
    response = post_form(client, params, sign("http://localhost/?tenant=eu", params), path="/?tenant=eu")
    assert response.status_code == 200
    assert response.get_json()["friendly_name"] == "Ada Lovelace"


def test_post_with_a_query_string_left_out_of_the_signature_is_403(client, ada, capsys):
    params = conversation_add_params()
    response = post_form(client, params, sign("http://localhost/", params), path="/?tenant=eu")
    assert_rejected_before_any_handler(response, capsys)


def test_post_with_the_query_string_tampered_is_403(client, ada, capsys):
    params = conversation_add_params()
    response = post_form(client, params, sign("http://localhost/?tenant=eu", params), path="/?tenant=us")
    assert_rejected_before_any_handler(response, capsys)


# --- parameter shapes ------------------------------------------------------------------------

def test_repeated_parameters_are_each_signed(client, ada):
    params = conversation_add_params(RetryCount=["1", "2"])
    response = signed_post(client, params)
    assert response.status_code == 200
    assert response.get_json()["friendly_name"] == "Ada Lovelace"


def test_one_value_of_a_repeated_parameter_dropped_is_403(client, ada, capsys):
    params = conversation_add_params(RetryCount=["1", "2"])
    signature = sign("http://localhost/", params)
    assert_rejected_before_any_handler(post_form(client, conversation_add_params(RetryCount="1"), signature), capsys)


def test_unicode_values_are_signed_as_utf8(client, ada):
    attributes = json.dumps({"note": "café ☕ 日本", "emoji": "👋"}, ensure_ascii=False)
    params = conversation_add_params(Attributes=attributes, MessageBody="Grüße 👋")
    response = signed_post(client, params)
    assert response.status_code == 200
    body = response.get_json()
    assert body["friendly_name"] == "Ada Lovelace"
    assert json.loads(body["attributes"]) == {"note": "café ☕ 日本", "emoji": "👋", "avatar": "https://example.com/ada.png"}


def test_unicode_value_tampered_is_403(client, ada, capsys):
    params = conversation_add_params(MessageBody="Grüße")
    signature = sign("http://localhost/", params)
    assert_rejected_before_any_handler(post_form(client, {**params, "MessageBody": "Grusse"}, signature), capsys)


def test_a_bare_origin_configured_in_twilio_is_accepted_at_the_root(client, store):
    """Twilio signs the URL exactly as configured; `https://host` (no slash) reaches the function as `/`."""
    from tests.conftest import sign

    params = {"EventType": "onConversationAdd"}
    response = client.post("/", data=params, headers={"X-Twilio-Signature": sign("http://localhost", params)})
    assert response.status_code == 200
