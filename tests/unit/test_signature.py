"""web.signature: the URL Twilio signed, and its HMAC, with known answers.

Requests are werkzeug's own (EnvironBuilder), as Flask gives them to the function. Expected
signatures come from Twilio's library tests (token "12345") or from HMAC-SHA1 computed here
the way Twilio documents it: the URL, then each parameter name and value in name order,
keyed with the auth token, base64.
"""

from __future__ import annotations

import base64
import hashlib
import hmac

import pytest
from werkzeug.datastructures import MultiDict
from werkzeug.test import EnvironBuilder
from werkzeug.wrappers import Request

from twilio.request_validator import RequestValidator

from web.signature import is_signed_by_twilio, signed_params_text, signed_url_candidates

TOKEN = "12345"
# twilio-python's tests/unit/test_request_validator.py: this URL and form, signed with "12345".
TWILIO_URL = "https://mycompany.com/myapp.php?foo=1&bar=2"
TWILIO_PARAMS = {"CallSid": "CA1234567890ABCDE", "Digits": "1234", "From": "+14158675309", "To": "+18005551212", "Caller": "+14158675309"}
TWILIO_SIGNATURE = "RSOYDt4T1cUTdK1PDd93/VVr8B8="
# The same URL with repeated Digits (5678 then 1234).
TWILIO_REPEATED = MultiDict([("Sid", "CA123"), ("SidAccount", "AC123"), ("Digits", "5678"), ("Digits", "1234")])
TWILIO_REPEATED_SIGNATURE = "IK+Dwps556ElfBT0I3Rgjkr1wJU="


def hmac_signature(url: str, params: MultiDict | dict, token: str = TOKEN) -> str:
    """X-Twilio-Signature computed from Twilio's documented rule, without Twilio's library."""
    pairs = params.items(multi=True) if isinstance(params, MultiDict) else params.items()
    text = url + "".join(name + value for name, value in sorted(pairs))
    return base64.b64encode(hmac.new(token.encode(), text.encode(), hashlib.sha1).digest()).decode()


def request(path: str = "/", *, host: str = "example.com", query: str = "", headers=None, script_root: str = "", scheme: str = "http") -> Request:
    return EnvironBuilder(path=path, base_url=f"{scheme}://{host}{script_root}", query_string=query or None,
                          headers=headers or {}).get_request()


# --- the known answers themselves ---------------------------------------------------------------------


def test_the_hmac_rule_reproduces_twilios_own_vectors():
    assert hmac_signature(TWILIO_URL, TWILIO_PARAMS) == TWILIO_SIGNATURE
    assert hmac_signature(TWILIO_URL, TWILIO_REPEATED) == TWILIO_REPEATED_SIGNATURE


# --- signed_url_candidates -----------------------------------------------------------------------------


def test_root_is_tried_with_and_without_its_slash():
    assert signed_url_candidates(request("/"), "") == ["http://example.com/", "http://example.com"]


def test_a_path_is_tried_as_it_is():
    assert signed_url_candidates(request("/crm"), "") == ["http://example.com/crm"]
    assert signed_url_candidates(request("/crm/"), "") == ["http://example.com/crm/"]


def test_the_query_string_is_part_of_every_candidate_as_sent():
    assert signed_url_candidates(request("/", query="b=2&a=%20x+y"), "") == ["http://example.com/?b=2&a=%20x+y", "http://example.com?b=2&a=%20x+y"]
    assert signed_url_candidates(request("/crm", query="a=1"), "") == ["http://example.com/crm?a=1"]


def test_a_query_that_is_not_utf8_is_kept_byte_for_byte():
    environ = EnvironBuilder(path="/crm", base_url="http://example.com").get_environ()
    environ["QUERY_STRING"] = "q=\xe9"  # WSGI strings are bytes as latin-1: the raw byte 0xE9
    assert signed_url_candidates(Request(environ), "") == ["http://example.com/crm?q=\xe9"]


def test_the_forwarded_scheme_wins_over_the_one_flask_sees():
    assert signed_url_candidates(request("/crm", headers={"X-Forwarded-Proto": "https"}), "") == ["https://example.com/crm"]


@pytest.mark.parametrize("forwarded", ["HTTPS", " https , http", "https,http,http"])
def test_the_first_forwarded_scheme_counts_in_lower_case(forwarded):
    assert signed_url_candidates(request("/crm", headers={"X-Forwarded-Proto": forwarded}), "") == ["https://example.com/crm"]


def test_without_a_forwarded_scheme_the_request_scheme_counts():
    assert signed_url_candidates(request("/crm", scheme="https"), "") == ["https://example.com/crm"]
    assert signed_url_candidates(request("/crm", headers={"X-Forwarded-Proto": ""}), "") == ["http://example.com/crm"]


def test_the_host_header_is_used_as_sent():
    # werkzeug's request.host drops a default port; Twilio signed whatever URL it called.
    assert signed_url_candidates(request("/crm", host="example.com:80"), "") == ["http://example.com:80/crm"]
    assert signed_url_candidates(request("/crm", headers={"Host": "Proxy.Example.COM:8443"}), "") == ["http://Proxy.Example.COM:8443/crm"]


def test_without_a_host_header_the_server_name_counts():
    environ = EnvironBuilder(path="/crm", base_url="http://example.com:8080").get_environ()
    del environ["HTTP_HOST"]
    assert signed_url_candidates(Request(environ), "") == ["http://example.com:8080/crm"]


def test_the_script_root_is_part_of_the_path():
    assert signed_url_candidates(request("/crm", script_root="/frontline"), "") == ["http://example.com/frontline/crm"]
    assert signed_url_candidates(request("/", script_root="/frontline"), "") == ["http://example.com/frontline/"]


def test_only_slashes_are_trimmed_off_public_url():
    assert signed_url_candidates(request("/crm"), "https://example.com/FX/") == ["https://example.com/FX/crm"]


@pytest.mark.parametrize("public_url", ["https://europe-west1-p.cloudfunctions.net/frontline", "https://europe-west1-p.cloudfunctions.net/frontline/",
                                        "https://europe-west1-p.cloudfunctions.net/frontline//"])
def test_public_url_replaces_the_scheme_and_host(public_url):
    base = "https://europe-west1-p.cloudfunctions.net/frontline"
    headers = {"X-Forwarded-Proto": "http", "Host": "internal:8080"}
    assert signed_url_candidates(request("/", headers=headers, script_root="/app"), public_url) == [base + "/app/"]
    assert signed_url_candidates(request("/", headers=headers), public_url) == [base + "/", base]
    assert signed_url_candidates(request("/crm", headers=headers, query="a=1"), public_url) == [base + "/crm?a=1"]


# --- is_signed_by_twilio -------------------------------------------------------------------------------


def twilio_example(signature: str | None, **headers: str) -> Request:
    """Twilio's example request as it reaches the function behind TLS termination."""
    all_headers = {"Host": "mycompany.com", "X-Forwarded-Proto": "https", **headers}
    if signature is not None:
        all_headers["X-Twilio-Signature"] = signature
    return EnvironBuilder(path="/myapp.php", base_url="http://mycompany.com", query_string="foo=1&bar=2", method="POST",
                          headers=all_headers).get_request()


def test_twilios_example_is_admitted():
    assert is_signed_by_twilio(twilio_example(TWILIO_SIGNATURE), TWILIO_PARAMS, TOKEN, "") is True
    assert is_signed_by_twilio(twilio_example(TWILIO_REPEATED_SIGNATURE), TWILIO_REPEATED, TOKEN, "") is True


def test_twilios_example_via_public_url_is_admitted():
    request = twilio_example(TWILIO_SIGNATURE, Host="10.0.0.1:8080", **{"X-Forwarded-Proto": "http"})
    assert is_signed_by_twilio(request, TWILIO_PARAMS, TOKEN, "") is False
    assert is_signed_by_twilio(request, TWILIO_PARAMS, TOKEN, "https://mycompany.com") is True


@pytest.mark.parametrize("signature", [None, "", "RSOYDt4T1cUTdK1PDd93/VVr8B8", "rsoydt4t1cutdk1pdd93/vvr8b8=", TWILIO_REPEATED_SIGNATURE])
def test_a_missing_or_wrong_signature_is_refused(signature):
    assert is_signed_by_twilio(twilio_example(signature), TWILIO_PARAMS, TOKEN, "") is False


def test_another_token_another_parameter_or_another_scheme_is_refused():
    assert is_signed_by_twilio(twilio_example(TWILIO_SIGNATURE), TWILIO_PARAMS, "54321", "") is False
    assert is_signed_by_twilio(twilio_example(TWILIO_SIGNATURE), {**TWILIO_PARAMS, "Digits": "1235"}, TOKEN, "") is False
    assert is_signed_by_twilio(twilio_example(TWILIO_SIGNATURE, **{"X-Forwarded-Proto": "http"}), TWILIO_PARAMS, TOKEN, "") is False


@pytest.mark.parametrize("signed_url", ["https://example.com/", "https://example.com"])
def test_either_spelling_of_the_root_is_admitted(signed_url):
    params = {"EventType": "onConversationAdd", "MessagingBinding.Address": "+15558675310"}
    request = EnvironBuilder(path="/", base_url="http://example.com", method="POST",
                             headers={"X-Forwarded-Proto": "https", "X-Twilio-Signature": hmac_signature(signed_url, params)}).get_request()
    assert is_signed_by_twilio(request, params, TOKEN, "") is True
    assert is_signed_by_twilio(request, params, TOKEN, "https://elsewhere.example.com") is False


def test_a_request_with_no_parameters_is_signed_over_its_url_alone():
    url = "https://example.com/crm?Location=GetCustomerDetailsByCustomerId&CustomerId=ada"
    request = EnvironBuilder(path="/crm", base_url="http://example.com", query_string=url.split("?")[1],
                             headers={"X-Forwarded-Proto": "https", "X-Twilio-Signature": hmac_signature(url, {})}).get_request()
    assert is_signed_by_twilio(request, {}, TOKEN, "") is True
    assert is_signed_by_twilio(request, {"CustomerId": "ada"}, TOKEN, "") is False


def test_the_parameter_text_is_each_name_then_each_distinct_value_sorted():
    validator = RequestValidator(TOKEN)
    params = MultiDict([("b", "2"), ("a", "z"), ("a", "y"), ("a", "z"), ("c", "")])
    assert signed_params_text(validator, params) == "aya" + "z" + "b2" + "c"
    assert signed_params_text(validator, {"To": "+1", "From": "+2"}) == "From+2To+1"
    assert signed_params_text(validator, {}) == ""


@pytest.mark.parametrize("host", ["x:abc", "x:99999", "[::1"])
def test_a_host_that_is_not_host_and_port_is_refused_not_raised(host):
    assert is_signed_by_twilio(twilio_example(TWILIO_SIGNATURE, Host=host), TWILIO_PARAMS, TOKEN, "") is False


@pytest.mark.parametrize(("host", "scheme", "signed_url", "admitted"), [
    ("example.com:8080", "http", "http://example.com:8080/crm", True),  # as requested
    ("example.com:8080", "http", "http://example.com/crm", True),  # Twilio signed it without the port
    ("example.com", "https", "https://example.com/crm", True),
    ("example.com", "https", "https://example.com:443/crm", True),  # with the scheme's default port
    ("example.com", "https", "https://example.com:8443/crm", False),  # any other port is another URL
    ("example.com:8080", "http", "http://example.com:80/crm", False),
])
def test_the_port_spellings_validate_tries_and_no_others(host, scheme, signed_url, admitted):
    params = {"Location": "GetCustomersList", "Worker": "ada@example.com"}
    request = EnvironBuilder(path="/crm", base_url=f"http://{host}", method="POST",
                             headers={"X-Forwarded-Proto": scheme, "X-Twilio-Signature": hmac_signature(signed_url, params)}).get_request()
    assert is_signed_by_twilio(request, params, TOKEN, "") is admitted
    assert RequestValidator(TOKEN).validate(f"{scheme}://{host}/crm", params, hmac_signature(signed_url, params)) is admitted


@pytest.mark.parametrize(("host", "path"), [("x:abc", "/crm"), ("example.com", "/crm;")])
def test_a_url_urlparse_cannot_keep_is_refused_even_signed_as_it_stands(host, path):
    """validate() never tries such a URL as it stands (it raises on the port, or drops the empty ';'), and neither do we."""
    params = {"Location": "GetCustomersList"}
    signed_url = f"https://{host}{path}"
    request = EnvironBuilder(path=path, base_url="http://example.com", method="POST",
                             headers={"Host": host, "X-Forwarded-Proto": "https",
                                      "X-Twilio-Signature": hmac_signature(signed_url, params)}).get_request()
    assert signed_url in signed_url_candidates(request, "")  # the URL as requested is exactly what was signed
    assert is_signed_by_twilio(request, params, TOKEN, "") is False
