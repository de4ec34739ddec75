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

import requests

from tests.conftest import ACCOUNT_SID, AUTH_TOKEN, CONVERSATION_SID, PARTICIPANT_SID, ROOT, json_logs, signed_post

PRISM_LOG = ROOT / ".local" / "prism.log"
PARTICIPANT_PATH = f"/v1/Conversations/{CONVERSATION_SID}/Participants/{PARTICIPANT_SID}"
SPEC_EXAMPLE_ADDRESS = "+15558675310"
ADA = {"display_name": "Ada Lovelace", "avatar": "https://example.com/ada.png", "channels": [{"type": "sms", "value": SPEC_EXAMPLE_ADDRESS}]}

_ANSI = re.compile(r"\x1b\[[0-9;]*m")
_RECEIVED = re.compile(r"\[HTTP SERVER\] (?P<method>\w+) (?P<path>\S+) .*Request received")


def prism_log_offset() -> int:
    return PRISM_LOG.stat().st_size if PRISM_LOG.exists() else 0


def prism_requests(offset: int, expected: int, wait_s: float = 3.0) -> list[tuple[str, str, list[str]]]:
    """(METHOD, path, log lines) for each request Prism logged after `offset`, waiting until
    `expected` requests are complete (the next one started, or a final outcome line is there)."""
    stop_at = time.monotonic() + wait_s
    while True:
        with open(PRISM_LOG, "rb") as log:
            log.seek(offset)
            text = _ANSI.sub("", log.read().decode("utf-8", errors="replace"))
        blocks: list[tuple[str, str, list[str]]] = []
        for line in text.splitlines():
            received = _RECEIVED.search(line)
            if received:
                blocks.append((received["method"].upper(), received["path"], []))
            elif blocks:
                blocks[-1][2].append(line)
        finished = [b for b in blocks if any("Responding with" in line or "Request terminated" in line for line in b[2])]
        if len(finished) >= expected or time.monotonic() > stop_at:
            return finished


def rejected(lines: list[str]) -> list[str]:
    return [line for line in lines if "✖" in line or "did not pass the validation" in line or "Request terminated" in line]


def participant_added(client):
    params = {
        "EventType": "onParticipantAdded",
        "AccountSid": ACCOUNT_SID,
        "ConversationSid": CONVERSATION_SID,
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
    settings_env(TWILIO_API_BASE_URL=prism)
    store.upsert("ada", ADA)
    offset = prism_log_offset()
    response = participant_added(client)
    assert response.status_code == 200
    logs = json_logs(capsys.readouterr().out)
    assert [line["message"] for line in logs if line["severity"] == "ERROR"] == []
    assert any(line["message"] == "participant attributes written" for line in logs), [line["message"] for line in logs]

    seen = prism_requests(offset, expected=2)
    assert [(method, path) for method, path, _ in seen] == [("GET", PARTICIPANT_PATH), ("POST", PARTICIPANT_PATH)]
    for method, path, lines in seen:
        assert any("passed the validation rules" in line for line in lines), (method, path, lines)
        assert rejected(lines) == [], (method, path, lines)


def test_prism_rejects_requests_twilio_would_refuse():
    """Negative controls: without these, a Prism that accepted anything would pass the test above."""


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
    offset = prism_log_offset()
    response = participant_added(client)
    assert response.status_code == 200
    logs = json_logs(capsys.readouterr().out)
    assert [line for line in logs if line["severity"] == "ERROR"], "a refused request must be logged at ERROR"
    assert not any(line["message"] == "participant attributes written" for line in logs)
    seen = prism_requests(offset, expected=1)
    assert seen, "Prism logged no request"
    assert all(rejected(lines) for _, _, lines in seen), seen
