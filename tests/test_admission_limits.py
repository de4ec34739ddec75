"""What a stranger's request may cost before it is refused, and what it may put in our logs.

Field count, URL length and body size are refused before any parsing or signature work; what a
caller chose (path, trace header) reaches the log lines clipped or not at all; and with
PUBLIC_URL set, a request signed for another app's URL is not ours whatever Host it carries.
"""

from __future__ import annotations

import json
from urllib.parse import urlencode

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from twilio.request_validator import RequestValidator
from werkzeug.datastructures import MultiDict

from runtime.config import VARIABLES
from runtime.logs import MAX_LOGGED_CHARS
from tests.conftest import ADA, ADA_ADDRESS, AUTH_TOKEN, PROJECT, ROOT, json_logs, sign, signed_post
from tools import doctor
from web.gate import MAX_FORM_FIELDS, MAX_PATH_BYTES
from web.signature import signed_params_text

FORM = "application/x-www-form-urlencoded"


def conversation_add(address: str = ADA_ADDRESS) -> dict[str, str]:
    return {"EventType": "onConversationAdd", "MessagingBinding.Address": address, "MessagingBinding.ProxyAddress": "+15005550006"}


def rejection(response, capsys, status: int) -> tuple[str, list[dict]]:
    assert response.status_code == status, response.data[:300]
    body = json.loads(response.data)
    assert list(body) == ["error"]
    lines = json_logs(capsys.readouterr().out)
    assert f"rejected: {body['error']}" in [line["message"] for line in lines]
    return body["error"], lines


# --- item 2: form fields are counted before anything is parsed or signed -----------------------

def test_fifty_thousand_empty_fields_are_refused_by_their_count_not_by_the_signature(client, capsys):
    body = "&".join(["k="] * 50_000)  # 149,999 bytes: under MAX_BODY_BYTES, so the size does not refuse it
    response = client.post("/", data=body, content_type=FORM)  # unsigned
    reason, _ = rejection(response, capsys, 413)
    assert reason == f"request has over {MAX_FORM_FIELDS} form fields"


def test_the_field_cap_holds_for_signed_requests_and_for_get_query_strings(client, capsys):
    over = {**conversation_add(), **{f"Pad{n}": "" for n in range(MAX_FORM_FIELDS)}}
    assert rejection(signed_post(client, over), capsys, 413)[0] == f"request has over {MAX_FORM_FIELDS} form fields"
    query = urlencode(over)
    response = client.get(f"/?{query}", headers={"X-Twilio-Signature": sign(f"http://localhost/?{query}", {})})
    assert rejection(response, capsys, 413)[0] == f"request has over {MAX_FORM_FIELDS} form fields"


def test_a_signed_request_with_exactly_the_most_fields_allowed_is_answered(client, store):
    store.upsert("ada", ADA)
    fields = conversation_add()
    at_cap = {**fields, **{f"Pad{n}": "" for n in range(MAX_FORM_FIELDS - len(fields))}}
    assert len(at_cap) == MAX_FORM_FIELDS
    response = signed_post(client, at_cap)
    assert response.status_code == 200 and response.get_json()["friendly_name"] == "Ada Lovelace"


def test_max_body_bytes_defaults_to_the_largest_body_twilio_sends_and_the_readme_says_why():
    assert VARIABLES["MAX_BODY_BYTES"][1] == "163840"  # 3 x (32 KB Body + 16 KB Attributes + 4 KiB of other fields)
    readme = (ROOT / "README.md").read_text()
    assert "| `MAX_BODY_BYTES` | no | `163840` |" in readme
    assert "conversations-limits" in readme and "32 KB" in readme and "16 KB" in readme


# The signature text is built once and HMAC'd per candidate URL; it must be exactly what the
# library's own validator computes, for every shape of parameters.
names = st.text(st.characters(exclude_categories=("Cs",)), max_size=8)
values = st.text(st.characters(exclude_categories=("Cs",)), max_size=8)


@settings(max_examples=300, deadline=None)
@given(pairs=st.lists(st.tuples(names, values), max_size=12),
       url=st.sampled_from(["https://example.test/", "https://example.test:443/crm?x=1", "http://127.0.0.1:8080/a%20b"]))
def test_the_signature_text_built_once_is_the_one_twilios_validator_signs(pairs, url):
    validator = RequestValidator(AUTH_TOKEN)
    params = MultiDict(pairs)
    ours = validator.compute_signature(url + signed_params_text(validator, params), None)
    assert ours == validator.compute_signature(url, params)
    assert validator.validate(url, params, ours)


# --- item 3: the URL is refused by its length, and what is logged of it is clipped ---------------

def test_a_long_path_is_refused_414_and_every_log_line_holds_only_its_head(client, capsys):
    path = "/" + "p" * 100_000
    response = client.post(path, data=urlencode(conversation_add()), content_type=FORM)
    reason, lines = rejection(response, capsys, 414)
    assert reason == f"URL path over {MAX_PATH_BYTES} bytes"
    assert len(lines) == 2  # the refusal and "request done"
    for line in lines:
        assert line["path"].startswith("/ppp") and len(line["path"]) <= MAX_LOGGED_CHARS + 30
        assert line["path"].endswith(f"…(+{len(path) - MAX_LOGGED_CHARS} chars)")
        assert len(json.dumps(line)) < 1000


def test_a_query_string_longer_than_a_body_may_be_is_refused_414_before_it_is_parsed(client, capsys):
    response = client.post("/?q=" + "x" * 200_000, data=urlencode(conversation_add()), content_type=FORM)
    assert rejection(response, capsys, 414)[0] == "query string over 163840 bytes"


def test_a_long_path_under_the_cap_is_still_signed_over_in_full(client, store):
    store.upsert("ada", ADA)
    path = "/" + "segment/" * 1000 + "conversations"  # 8,014 bytes
    assert len(path) <= MAX_PATH_BYTES
    assert signed_post(client, conversation_add(), path=path).get_json()["friendly_name"] == "Ada Lovelace"


# --- item 10: only a well-formed trace id reaches the trace field ---------------------------------

@pytest.mark.parametrize("header", ["x" * 5000 + "/1;o=1", "../../projects/other/traces/abc", "105445aa7843bc8bf206b1200010000/1",
                                    "105445aa7843bc8bf206b12000100000z/1", "\u2028" * 32, ""])
def test_a_malformed_trace_header_puts_no_trace_field_in_the_log(client, capsys, header):
    response = client.put("/", headers={"X-Cloud-Trace-Context": header})
    assert response.status_code == 405
    lines = json_logs(capsys.readouterr().out)
    assert lines and all("logging.googleapis.com/trace" not in line for line in lines)


def test_a_well_formed_trace_id_in_capitals_is_kept(client, capsys):
    client.put("/", headers={"X-Cloud-Trace-Context": "105445AA7843BC8BF206B12000100000/1;o=1"})
    lines = json_logs(capsys.readouterr().out)
    assert lines and all(line["logging.googleapis.com/trace"] == f"projects/{PROJECT}/traces/105445aa7843bc8bf206b12000100000" for line in lines)


# --- item 9 (signature side): PUBLIC_URL pins what was signed --------------------------------------

OTHER_APP = "https://other-app.example.com"


@pytest.mark.parametrize("path", ["/", "/twilio/hook"])
def test_a_request_signed_for_another_apps_url_is_refused_when_public_url_is_set(client, store, settings_env, capsys, path):
    store.upsert("ada", ADA)
    replay = {"Host": "other-app.example.com", "X-Forwarded-Proto": "https"}
    # Without PUBLIC_URL the function believes the Host the caller sends: the replay is admitted.
    assert signed_post(client, conversation_add(), path=path, base=OTHER_APP, headers=replay).status_code == 200
    settings_env(PUBLIC_URL="https://frontline-webhook-abc123-ew.a.run.app")
    capsys.readouterr()
    response = signed_post(client, conversation_add(), path=path, base=OTHER_APP, headers=replay)
    assert rejection(response, capsys, 403)[0] == "invalid X-Twilio-Signature"
    # ... while what Twilio signs for this function's own URL still passes, whatever Host arrives.
    ours = signed_post(client, conversation_add(), path=path, base="https://frontline-webhook-abc123-ew.a.run.app", headers=replay)
    assert ours.status_code == 200


def test_the_doctor_warns_when_public_url_is_not_set():
    unset = doctor.check_public_url({})
    assert unset.status == doctor.WARN and "PUBLIC_URL is not set" in unset.detail and "another app" in unset.detail
    assert "PUBLIC_URL" in unset.fix
    pinned = doctor.check_public_url({"PUBLIC_URL": "https://frontline-webhook-abc123-ew.a.run.app"})
    assert pinned.status == doctor.PASS
