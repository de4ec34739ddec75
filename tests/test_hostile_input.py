"""Hostile input, generated: random methods, paths, headers, form bodies and raw bytes.

Properties, each over 200 generated requests through functions-framework's real app:
- nothing unsigned reaches a handler: the answer is 403, 405 or 413 with a one-line JSON
  error, the only log lines are the refusal and the request summary, and Twilio is not called;
- nothing signed ends in a 5xx, and no answer names a file, a traceback or a library;
- a signed onConversationAdd, whatever its fields, is always a 200 with a well-formed answer
  (a 4xx/5xx would stop Twilio creating the customer's conversation).
"""

from __future__ import annotations

import json
import string
from urllib.parse import urlencode

from hypothesis import HealthCheck, example, given, settings
from hypothesis import strategies as st

from tests.conftest import ADA, ADA_ADDRESS, AUTH_TOKEN, json_logs, sign

PROPERTY = settings(max_examples=200, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow])
MAX_BODY = 2000  # set for these tests, so that generated bodies cross the limit often


# Words that would show an internal in an answer: a traceback, a source path, a library.
LEAKS = ("Traceback", 'File "', ".py", "/work/", "site-packages", "werkzeug", "Werkzeug", "flask", "Flask", "functions_framework",
         "google", "grpc", "twilio.", "requests", "urllib", "Error:", "Exception", AUTH_TOKEN)

FIELDS = ["EventType", "Location", "MessagingBinding.Address", "MessagingBinding.ProxyAddress", "MessagingBinding.Type",
          "Attributes", "ConversationSid", "ParticipantSid", "Identity", "Worker", "CustomerId", "PageSize", "Anchor", "Query",
          "ChannelType", "ChannelValue", "Source", "RetryCount"]
EVENTS = ["onConversationAdd", "onParticipantAdded", "onMessageAdd", "GetCustomersList", "GetCustomerDetailsByCustomerId",
          "GetProxyAddress", "GetTemplatesByCustomerId"]
PATHS = ["/", "/conversations", "/crm", "/outgoing", "/templates", "/routing", "/a/b/crm", "/conversations/"]
HEADER_CHARS = st.characters(min_codepoint=0x20, max_codepoint=0xFF, exclude_characters="\x7f")

text = st.text(st.characters(exclude_categories=("Cs",)), max_size=40)
field_value = st.one_of(text, st.sampled_from(EVENTS), st.sampled_from([ADA_ADDRESS, "whatsapp:" + ADA_ADDRESS, "(555) 867-5310", "",
                                                                       "[\"+15558675310\"]", "{\"a\": 1}", "{", "0", "-1", "99999999999"]))
form = st.dictionaries(st.one_of(st.sampled_from(FIELDS), text), st.one_of(field_value, st.lists(field_value, min_size=1, max_size=3)),
                       max_size=8)


def _signed_form(parts: tuple[dict, dict, dict]) -> dict:
    base, known, routing = parts
    merged = {**base, **known}
    if routing.get("ConversationSid"):
        merged.pop("Identity", None)  # a customer participant has no Identity
    return {**merged, **routing}


# Signed forms: random fields, most often with the fields that route them to a handler.
signed_form = st.tuples(
    form,
    st.fixed_dictionaries({}, optional={name: field_value for name in FIELDS if name not in ("EventType", "Location")}),
    st.one_of(
        st.just({}),
        st.fixed_dictionaries({"EventType": st.sampled_from(["onConversationAdd", "onParticipantAdded", "onMessageAdd"])}),
        st.fixed_dictionaries({"Location": st.sampled_from(EVENTS[3:])}),
        # a known customer's participant with made-up sids: the function calls Twilio REST with them
        st.fixed_dictionaries({"EventType": st.sampled_from(["onParticipantAdded", ""]), "MessagingBinding.Address": st.just(ADA_ADDRESS),
                               "ConversationSid": text.filter(str.strip), "ParticipantSid": text.filter(str.strip)}),
    ),
).map(_signed_form)
host = st.one_of(st.sampled_from(["localhost:abc", "localhost:99999", "[::1", "[::1]:80", "example.test:443", "a b", ""]),
                 st.text(st.sampled_from(string.ascii_letters + string.digits + ".:-[]@%_ "), max_size=30))
header_name = st.text(st.sampled_from(string.ascii_letters + string.digits + "-"), min_size=1, max_size=20).filter(
    lambda name: name.lower() not in ("content-length", "transfer-encoding", "content-type", "host", "x-twilio-signature"))
content_type = st.one_of(st.sampled_from(["application/x-www-form-urlencoded", "application/x-www-form-urlencoded; charset=latin-1",
                                          "application/json", "multipart/form-data; boundary=x", "text/plain", "", "Application/X-WWW-Form-URLEncoded"]),
                         st.text(HEADER_CHARS, max_size=40))
method = st.one_of(st.sampled_from(["POST", "POST", "GET", "PUT", "DELETE", "PATCH", "OPTIONS", "HEAD"]),
                   st.text(st.sampled_from(string.ascii_uppercase), min_size=1, max_size=10))
# (The test client would read a leading "//" as a host name, so generated paths start with one "/".)
path = st.one_of(st.sampled_from(PATHS + ["/robots.txt", "/favicon.ico", "/a//crm"]),
                 st.text(st.sampled_from(string.ascii_letters + string.digits + "-._~%/"), max_size=30).map(lambda p: "/" + p.lstrip("/")))
query = st.one_of(st.just(""), st.dictionaries(text, text, max_size=3).map(urlencode), st.text(st.sampled_from(string.printable.strip()), max_size=30))
body = st.one_of(st.binary(max_size=3 * MAX_BODY), form.map(lambda f: urlencode(f, doseq=True).encode()),
                 st.builds(lambda n: b"EventType=onConversationAdd&Pad=" + b"p" * n, st.integers(MAX_BODY - 100, MAX_BODY + 100)))
headers = st.fixed_dictionaries({}, optional={
    "Host": host,
    "Content-Type": content_type,
    "X-Twilio-Signature": st.one_of(st.text(HEADER_CHARS, min_size=1, max_size=40),
                                    st.sampled_from(["x" * 28, "AAAAAAAAAAAAAAAAAAAAAAAAAAA=", "=", " "])),
    "X-Forwarded-Proto": st.one_of(st.sampled_from(["https", "http", "https, http", "HTTPS", "ftp", ""]), st.text(HEADER_CHARS, max_size=10)),
    "X-Cloud-Trace-Context": st.text(HEADER_CHARS, max_size=40),
}).flatmap(lambda fixed: st.dictionaries(header_name, st.text(HEADER_CHARS, max_size=40), max_size=4).map(lambda extra: {**extra, **fixed}))


def leaks_in(response, sent: str) -> list[str]:
    """Internals named in the answer that the request did not itself contain (an echoed field is no leak)."""
    answer = response.get_data(as_text=True) + " ".join(f"{k}: {v}" for k, v in response.headers.items())
    return [word for word in LEAKS if word in answer and word not in sent]


def answered_by_the_framework(target: str, headers: dict) -> bool:
    """functions-framework's router answers some requests itself, before any function code runs:
    /robots.txt and /favicon.ico (404), some paths with "//" (308 to the slashes merged), and a
    Host with an empty label such as "." or "a..b", which it cannot encode (400)."""
    path_only = target.split("?")[0]
    host = headers.get("Host", "localhost")
    hostname = host if host.startswith("[") else host.rsplit(":", 1)[0]
    return path_only in ("/robots.txt", "/favicon.ico") or "//" in path_only or "" in hostname.split(".")[:-1]


# --- nothing unsigned reaches a handler --------------------------------------------------------


@PROPERTY
@given(method=method, path=path, query=query, headers=headers, body=body)
@example(method="POST", path="/", query="", headers={"Host": "localhost:abc", "X-Twilio-Signature": "abc"}, body=b"EventType=onConversationAdd")
@example(method="POST", path="/", query="", headers={"Host": "[::1", "X-Twilio-Signature": "abc"}, body=b"")
@example(method="GET", path="/", query="EventType=onConversationAdd", headers={"Host": "x:99999", "X-Twilio-Signature": "abc"}, body=b"")
@example(method="POST", path="/", query="", headers={"Host": "."}, body=b"")
@example(method="POST", path="/robots.txt", query="", headers={}, body=b"")
def test_unsigned_requests_are_refused_before_any_handler(client, twilio, settings_env, capsys, method, path, query, headers, body):
    settings_env(MAX_BODY_BYTES=str(MAX_BODY))
    target = path + (f"?{query}" if query else "")
    capsys.readouterr()
    twilio.reset()

    response = client.open(target, method=method, data=body, headers=headers)

    assert not leaks_in(response, repr((method, target, headers, body)))
    assert twilio.calls() == []
    messages = [line["message"] for line in json_logs(capsys.readouterr().out)]
    if not messages:  # the function did not run at all: only the framework's own answers may do that
        assert answered_by_the_framework(target, headers) and response.status_code in (308, 400, 404), (target, headers, response.status_code)
        return
    assert response.status_code in (403, 405, 413), (response.status_code, response.data[:200])
    assert len(messages) == 2 and messages[0].startswith("rejected: ") and messages[1] == "request done", messages
    if method != "HEAD":  # a HEAD answer has no body
        reply = json.loads(response.data)
        assert list(reply) == ["error"] and "\n" not in reply["error"]
        assert messages[0] == f"rejected: {reply['error']}"
    if response.status_code == 403:
        assert "X-Twilio-Signature" in messages[0]


# --- nothing signed ends in a 5xx ----------------------------------------------------------------


@PROPERTY
@given(path=st.sampled_from(PATHS), fields=signed_form, forwarded=st.booleans())
@example(path="/", fields={"EventType": "\x85"}, forwarded=False)  # a line break to str.splitlines, inside a log field
def test_signed_random_forms_never_end_in_a_server_error_or_a_leak(client, store, twilio, settings_env, capsys, path, fields, forwarded):
    # A known customer and a default worker, so that random sids reach Twilio REST calls too; a
    # short deadline keeps the retries of the stand-in's 404s for made-up sids short.
    settings_env(WEBHOOK_DEADLINE_S="0.25", DEFAULT_WORKER="joe@example.com")
    if not store.get("ada"):
        store.upsert("ada", ADA)
    base = "https://localhost" if forwarded else "http://localhost"
    extra = {"X-Forwarded-Proto": "https"} if forwarded else {}
    capsys.readouterr()
    response = client.post(path, data=urlencode(fields, doseq=True), content_type="application/x-www-form-urlencoded",
                           headers={"X-Twilio-Signature": sign(base + path, fields), **extra})
    assert response.status_code < 500, (response.status_code, response.data[:200])
    assert response.status_code in (200, 400, 403, 404, 422), response.status_code
    assert response.mimetype == "application/json"
    reply = json.loads(response.data)
    if response.status_code != 200:
        assert list(reply) == ["error"] and "X-Twilio-Signature" not in reply["error"], reply
    assert not leaks_in(response, repr(fields))
    assert "request done" in [line["message"] for line in json_logs(capsys.readouterr().out)]


@PROPERTY
@given(content=st.sampled_from(["application/json", "text/plain", "application/octet-stream", "multipart/form-data; boundary=x"]),
       raw=st.binary(min_size=1, max_size=MAX_BODY))
def test_signed_bodies_that_are_not_forms_are_400(client, capsys, content, raw):
    # Twilio signs a non-form body by its URL alone, so these pass the signature and fail the shape check.
    capsys.readouterr()
    response = client.post("/", data=raw, content_type=content, headers={"X-Twilio-Signature": sign("http://localhost/", {})})
    assert response.status_code == 400
    assert list(json.loads(response.data)) == ["error"]
    assert not leaks_in(response, repr(raw))


# --- a signed pre-event is always a 200 ------------------------------------------------------------


attributes = st.one_of(st.none(), text, st.recursive(st.one_of(st.none(), st.booleans(), st.integers(), text),
                                                     lambda inner: st.lists(inner, max_size=3) | st.dictionaries(text, inner, max_size=3),
                                                     max_leaves=8).map(lambda v: json.dumps(v, ensure_ascii=False)))
address = st.one_of(st.none(), text, st.sampled_from([ADA_ADDRESS, "whatsapp:" + ADA_ADDRESS, "sms:+1 555 867 5310", "(555) 867-5310",
                                                      "../x", "__name__", ".", "a/b", "x" * 2000]),
                    st.lists(st.sampled_from([ADA_ADDRESS, "+15550001111"]), min_size=2, max_size=3))


@PROPERTY
@given(address=address, attributes=attributes, extra=st.dictionaries(text, text, max_size=4))
def test_a_signed_conversation_add_is_always_200_with_a_well_formed_answer(client, store, address, attributes, extra):
    if not store.get("ada"):
        store.upsert("ada", ADA)
    fields = {**extra, "EventType": "onConversationAdd"}
    if address is not None:
        fields["MessagingBinding.Address"] = address
    if attributes is not None:
        fields["Attributes"] = attributes
    response = client.post("/", data=urlencode(fields, doseq=True), content_type="application/x-www-form-urlencoded",
                           headers={"X-Twilio-Signature": sign("http://localhost/", fields)})
    assert response.status_code == 200, response.data[:200]
    reply = json.loads(response.data)
    assert set(reply) <= {"friendly_name", "attributes"}
    if "friendly_name" in reply:
        assert isinstance(reply["friendly_name"], str) and reply["friendly_name"]
    if "attributes" in reply:
        merged = json.loads(reply["attributes"])
        assert isinstance(merged, dict) and merged["avatar"] == ADA["avatar"]
        incoming = json.loads(attributes) if attributes and attributes.strip() else {}
        assert {k: v for k, v in merged.items() if k != "avatar"} == {k: v for k, v in incoming.items() if k != "avatar"}
    if address == ADA_ADDRESS:
        assert reply["friendly_name"] == "Ada Lovelace"
