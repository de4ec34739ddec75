"""Every Twilio REST request the code makes is one Twilio's own OpenAPI description accepts.

Stoplight Prism serves Twilio's Conversations description with --errors: a request with a
wrong path, method, body field or auth gets 401/404/422 instead of the spec's example. The
code is driven through its real path (a signed onParticipantAdded) with TWILIO_API_BASE_URL
pointing at Prism. Prism answers the spec's example participant: an SMS customer at
+15558675310 with attributes '{ "role": "driver" }', so the handler fetches it (GET) and
writes the merged attributes back (POST).
"""

from __future__ import annotations

import re
import time
import uuid

import requests

from tests.conftest import ACCOUNT_SID, AUTH_TOKEN, CONVERSATION_SID, PARTICIPANT_SID, PRISM_LOG, json_logs, signed_post

PARTICIPANT_PATH = f"/v1/Conversations/{CONVERSATION_SID}/Participants/{PARTICIPANT_SID}"
SPEC_EXAMPLE_ADDRESS = "+15558675310"
ADA = {"display_name": "Ada Lovelace", "avatar": "https://example.com/ada.png", "channels": [{"type": "sms", "value": SPEC_EXAMPLE_ADDRESS}]}

_ANSI = re.compile(r"\x1b\[[0-9;]*m")
_RECEIVED = re.compile(r"\[HTTP SERVER\] (?P<method>\w+) (?P<path>\S+) .*Request received")


def prism_requests(marker: str, expected: int, wait_s: float = 3.0) -> list[tuple[str, str, list[str]]]:
    """(METHOD, path, log lines) for each finished request Prism logged whose path contains
    `marker` (a conversation sid unique to the test, so other tests' lines never match),
    waiting until `expected` of them are there."""
    stop_at = time.monotonic() + wait_s
    while True:
        text = _ANSI.sub("", PRISM_LOG.read_bytes().decode("utf-8", errors="replace")) if PRISM_LOG.exists() else ""
        blocks: list[tuple[str, str, list[str]]] = []
        current: list[str] | None = None
        for line in text.splitlines():
            received = _RECEIVED.search(line)
            if received:
                current = [] if marker in received["path"] else None
                if current is not None:
                    blocks.append((received["method"].upper(), received["path"], current))
            elif current is not None:
                current.append(line)
        finished = [b for b in blocks if any("Responding with" in line or "Request terminated" in line for line in b[2])]
        if len(finished) >= expected or time.monotonic() > stop_at:
            return finished


def rejected(lines: list[str]) -> list[str]:
    return [line for line in lines if "✖" in line or "did not pass the validation" in line or "Request terminated" in line]


def unique_conversation_sid() -> str:
    return "CH" + uuid.uuid4().hex


def participant_added(client, conversation_sid: str):
    params = {
        "EventType": "onParticipantAdded",
        "AccountSid": ACCOUNT_SID,
        "ConversationSid": conversation_sid,
        "ParticipantSid": PARTICIPANT_SID,
        "MessagingBinding.Address": SPEC_EXAMPLE_ADDRESS,
        "MessagingBinding.ProxyAddress": "+15017122661",
        "MessagingBinding.Type": "sms",
        "Attributes": "{}",
        "RoleSid": "RL" + "a" * 32,
        "Source": "SMS",
    }
    return signed_post(client, params)


def test_participant_fetch_and_update_are_accepted_by_twilios_spec(client, store, prism, settings_env, capsys):
    # A generous deadline: this test is about what is sent, not how fast Prism answers.
    settings_env(TWILIO_API_BASE_URL=prism, WEBHOOK_DEADLINE_S="4.5")
    store.upsert("ada", ADA)
    conversation_sid = unique_conversation_sid()
    response = participant_added(client, conversation_sid)
    assert response.status_code == 200
    logs = json_logs(capsys.readouterr().out)
    assert [line["message"] for line in logs if line["severity"] == "ERROR"] == []
    assert any(line["message"] == "participant attributes written" for line in logs), [line["message"] for line in logs]

    seen = prism_requests(conversation_sid, expected=2)
    path = f"/v1/Conversations/{conversation_sid}/Participants/{PARTICIPANT_SID}"
    # Every request the code made for this conversation (a retry after a slow answer included) was accepted.
    assert {(method, p) for method, p, _ in seen} == {("GET", path), ("POST", path)}, seen
    for method, path, lines in seen:
        assert any("passed the validation rules" in line for line in lines), (method, path, lines)
        assert rejected(lines) == [], (method, path, lines)


# Negative controls: without these, a Prism that accepted anything would pass the test above.


def test_prism_rejects_a_request_without_credentials(prism):
    response = requests.post(prism + PARTICIPANT_PATH, data={"Attributes": "{}"}, timeout=5)
    assert response.status_code == 401


def test_prism_rejects_an_invalid_body_field(prism):
    response = requests.post(prism + PARTICIPANT_PATH, data={"RoleSid": "not-a-role"}, auth=(ACCOUNT_SID, AUTH_TOKEN), timeout=5)
    assert response.status_code == 422


def test_prism_rejects_a_path_twilio_does_not_have(prism):
    response = requests.get(prism + f"/v1/Conversations/{CONVERSATION_SID}/Members/{PARTICIPANT_SID}", auth=(ACCOUNT_SID, AUTH_TOKEN), timeout=5)
    assert response.status_code == 404


def test_a_wrong_request_through_the_real_code_path_is_caught_by_the_same_checks(client, store, prism, settings_env, capsys):
    """Point the code at a path Twilio does not serve: the checks of the positive test must fail."""
    settings_env(TWILIO_API_BASE_URL=prism + "/not-twilio", WEBHOOK_DEADLINE_S="1.0")
    store.upsert("ada", ADA)
    conversation_sid = unique_conversation_sid()
    response = participant_added(client, conversation_sid)
    assert response.status_code == 200
    logs = json_logs(capsys.readouterr().out)
    assert [line for line in logs if line["severity"] == "ERROR"], "a refused request must be logged at ERROR"
    assert not any(line["message"] == "participant attributes written" for line in logs)
    seen = prism_requests(conversation_sid, expected=1)
    assert seen, "Prism logged no request"
    assert all(rejected(lines) for _, _, lines in seen), seen
