"""X-Twilio-Signature edge cases not in test_signature.py: how spaces and plus signs are
encoded, empty values, very long URLs, an explicit port in Host or PUBLIC_URL, unicode
parameter names, repeated values in another order. Signatures are made with Twilio's own
RequestValidator over the URL Twilio would have called.
"""

from __future__ import annotations

import json
from urllib.parse import quote, quote_plus, urlencode

import pytest

from tests.conftest import ADA, ADA_ADDRESS, json_logs, sign, signed_post

FORM = "application/x-www-form-urlencoded"


def params(**extra):
    return {"EventType": "onConversationAdd", "ChatServiceSid": "IS" + "0" * 32, "MessagingBinding.Address": ADA_ADDRESS,
            "MessagingBinding.ProxyAddress": "+15005550006", **extra}


def post_body(client, body: str, signature: str, *, path: str = "/", headers=None):
    """POST a body exactly as written, so the test chooses how every character is encoded."""
    return client.post(path, data=body, content_type=FORM, headers={"X-Twilio-Signature": signature, **(headers or {})})


def assert_named(response):
    assert response.status_code == 200, response.data
    assert response.get_json()["friendly_name"] == "Ada Lovelace"


def assert_refused(response, capsys):
    assert response.status_code == 403
    assert [line["message"] for line in json_logs(capsys.readouterr().out)] == [f"rejected: {response.get_json()['error']}", "request done"]


@pytest.fixture()
def ada(store):
    store.upsert("ada", ADA)


# --- spaces and plus signs ---------------------------------------------------------------------


@pytest.mark.parametrize("quote_via", [quote_plus, quote], ids=["space-as-plus", "space-as-percent-20"])
def test_a_space_in_a_value_may_arrive_as_plus_or_as_percent_20(client, ada, quote_via):
    sent = params(MessageBody="see you at 5, Ada", Attributes='{"note": "a b"}')
    body = urlencode(sent, quote_via=quote_via)
    assert ("+" in body) is (quote_via is quote_plus) and ("%20" in body) is (quote_via is quote)
    assert_named(post_body(client, body, sign("http://localhost/", sent)))


def test_a_plus_sign_in_a_value_is_percent_encoded_and_admitted(client, ada):
    body = urlencode(params())
    assert "%2B15558675310" in body
    assert_named(post_body(client, body, sign("http://localhost/", params())))


def test_a_raw_plus_sign_decodes_as_a_space_so_it_is_not_what_twilio_signed(client, ada, capsys):
    body = urlencode(params()).replace("%2B", "+")  # the form decoder reads " 15558675310"
    assert_refused(post_body(client, body, sign("http://localhost/", params())), capsys)


@pytest.mark.parametrize("query", ["note=a+b", "note=a%20b", "note=a%2Bb", "q=%E2%98%95+caf%C3%A9"])
def test_a_query_string_is_signed_exactly_as_it_was_sent(client, ada, query):
    assert_named(post_body(client, urlencode(params()), sign(f"http://localhost/?{query}", params()), path=f"/?{query}"))


def test_a_query_string_signed_in_another_spelling_is_403(client, ada, capsys):
    # Twilio signs the URL as it calls it; "a+b" and "a%20b" decode alike but are different URLs.
    signature = sign("http://localhost/?note=a%20b", params())
    assert_refused(post_body(client, urlencode(params()), signature, path="/?note=a+b"), capsys)


# --- empty values --------------------------------------------------------------------------------


def test_empty_values_are_signed_and_admitted(client, ada):
    sent = params(Attributes="", MessageBody="", RetryCount="")
    response = post_body(client, urlencode(sent), sign("http://localhost/", sent))
    assert_named(response)
    assert json.loads(response.get_json()["attributes"]) == {"avatar": ADA["avatar"]}


def test_an_empty_parameter_dropped_in_transit_is_403(client, ada, capsys):
    signed = params(MessageBody="")
    assert_refused(post_body(client, urlencode(params()), sign("http://localhost/", signed)), capsys)


def test_an_empty_parameter_given_a_value_in_transit_is_403(client, ada, capsys):
    signed = params(MessageBody="")
    assert_refused(post_body(client, urlencode(params(MessageBody="x")), sign("http://localhost/", signed)), capsys)


# --- very long URLs ------------------------------------------------------------------------------


def test_a_very_long_url_is_signed_over_in_full(client, ada, capsys):
    path = "/" + "segment/" * 500 + "conversations"
    query = "tenant=" + "t" * 8000 + "&region=eu"
    url = f"{path}?{query}"
    assert len(url) > 12000
    assert_named(post_body(client, urlencode(params()), sign(f"http://localhost{url}", params()), path=url))
    capsys.readouterr()
    assert_refused(post_body(client, urlencode(params()), sign(f"http://localhost{url[:-1]}", params()), path=url), capsys)


# --- an explicit port ----------------------------------------------------------------------------


@pytest.mark.parametrize(("host", "signed_base"), [
    ("example.test:443", "https://example.test"),        # the front end passes the port on; Twilio signed without it
    ("example.test", "https://example.test:443"),        # Twilio signed with the default port spelled out
    ("example.test:443", "https://example.test:443"),
    ("example.test:8443", "https://example.test:8443"),  # a non-default port, signed with it
    ("example.test:8443", "https://example.test"),       # ... or without it: the validator tries both
], ids=["host-443-signed-without", "host-without-signed-443", "both-443", "both-8443", "host-8443-signed-without"])
def test_a_port_in_host_is_tried_with_and_without_as_twilio_does(client, ada, host, signed_base):
    assert_named(signed_post(client, params(), base=signed_base, headers={"X-Forwarded-Proto": "https", "Host": host}))


@pytest.mark.parametrize(("host", "signed_base"), [
    ("example.test:443", "https://attacker.test:443"),  # the port does not make another host valid
    ("example.test", "https://example.test:8443"),      # only the scheme's default port is ever added back
    ("example.test:443", "http://example.test:443"),    # nor another scheme
], ids=["other-host", "non-default-port-added", "other-scheme"])
def test_a_port_does_not_widen_what_is_admitted(client, ada, capsys, host, signed_base):
    assert_refused(signed_post(client, params(), base=signed_base, headers={"X-Forwarded-Proto": "https", "Host": host}), capsys)


@pytest.mark.parametrize("signed", ["https://hooks.example.test:8443/fn", "https://hooks.example.test/fn"])
def test_public_url_with_a_port_admits_twilios_signature_with_or_without_it(client, ada, settings_env, signed):
    settings_env(PUBLIC_URL="https://hooks.example.test:8443/fn")
    assert_named(post_body(client, urlencode(params()), sign(signed, params())))


# --- names and order -------------------------------------------------------------------------------


def test_unicode_parameter_names_are_signed_as_utf8(client, ada):
    sent = params(**{"Ünïcode.Näme": "välue", "日本": "語"})
    assert_named(post_body(client, urlencode(sent), sign("http://localhost/", sent)))


def test_repeated_values_arriving_in_another_order_are_admitted(client, ada):
    # Twilio's validator sorts each parameter's values, so their order on the wire does not matter.
    signature = sign("http://localhost/", params(Tag=["b", "a", "c"]))
    body = urlencode(params(Tag=["c", "a", "b"]), doseq=True)
    assert_named(post_body(client, body, signature))


@pytest.mark.parametrize("host", ["example.test:abc", "example.test:99999", "[::1", "example.test:"])
def test_a_host_that_is_not_host_and_port_is_403_not_a_server_error(client, ada, capsys, host):
    # Twilio's validator parses the port to try the URL with and without it; a port that is not a
    # number (or a broken IPv6 literal) made that parse raise, and the request ended in a 500.
    response = signed_post(client, params(), base="https://example.test", headers={"X-Forwarded-Proto": "https", "Host": host})
    assert_refused(response, capsys)
