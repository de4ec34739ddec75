"""Custom routing at /routing end to end: the customer's worker (or DEFAULT_WORKER) is added to
the conversation through the real twilio client, against the Twilio stand-in, and against
Prism serving Twilio's own description for the contract."""

from __future__ import annotations

import random
import re
import time

import pytest

from tests.conftest import CONVERSATION_SID, PRISM_LOG, json_logs
from tests.frontline_people import ALICE, CAROL, error_of, messages, route


def test_routing_adds_the_customers_worker_once_even_when_delivered_twice(client, people, twilio, settings_env, capsys):
    settings_env(DEFAULT_WORKER=CAROL)
    first = route(client, "+15558675310")
    second = route(client, "+15558675310")
    assert (first.status_code, second.status_code) == (200, 200)
    assert twilio.identities_in(CONVERSATION_SID) == [ALICE]
    creates = twilio.calls("POST")
    assert [(c.path, c.form) for c in creates] == [(f"/v1/Conversations/{CONVERSATION_SID}/Participants", {"Identity": ALICE})] * 2
    assert twilio.calls("GET") == []
    logs = json_logs(capsys.readouterr().out)
    assert messages(logs, "ERROR") == []
    assert messages(logs, "WARNING") == []  # a 409 is an answer, not a failure to retry
    assert "worker added to conversation" in messages(logs)
    assert "worker already in conversation" in messages(logs)


def test_routing_finds_the_customer_by_any_spelling_of_the_address(client, people, twilio):
    assert route(client, "whatsapp:+15558675310").status_code == 200
    assert twilio.identities_in(CONVERSATION_SID) == [ALICE]


@pytest.mark.parametrize("address", ["+15550100004", "+15550199999", None, ["+15558675310", "+15550100001"]],
                         ids=["unassigned-customer", "unknown-address", "no-address", "group-mms"])
def test_routing_without_a_customer_worker_uses_the_default_worker(client, people, twilio, settings_env, address):
    settings_env(DEFAULT_WORKER=CAROL)
    response = route(client, address)
    assert response.status_code == 200
    assert twilio.identities_in(CONVERSATION_SID) == [CAROL]


def test_routing_with_no_worker_at_all_warns_and_calls_nobody(client, people, twilio, settings_env, capsys):
    settings_env(DEFAULT_WORKER=None)
    response = route(client, "+15550100004")
    assert response.status_code == 200
    assert response.get_json() == {}
    assert twilio.calls() == []
    logs = json_logs(capsys.readouterr().out)
    assert messages(logs, "WARNING") and "DEFAULT_WORKER" in messages(logs, "WARNING")[0]
    assert messages(logs, "ERROR") == []


def test_routing_without_a_conversation_sid_is_400_and_calls_nobody(client, people, twilio):
    response = route(client, "+15558675310", conversation_sid=None)
    assert response.status_code == 400
    assert error_of(response) == "missing required field: ConversationSid"
    assert twilio.calls() == []


def test_routing_retries_a_throttled_create_and_still_adds_once(client, people, twilio):
    from tools.twilio_sandbox import Fault

    path = f"/v1/Conversations/{CONVERSATION_SID}/Participants"
    twilio.inject("POST", path, Fault(status=429), Fault(status=503))
    assert route(client, "+15558675310").status_code == 200
    assert len(twilio.calls("POST")) == 3
    assert twilio.identities_in(CONVERSATION_SID) == [ALICE]


def test_routing_gives_up_with_an_error_log_but_still_answers_200(client, people, twilio, settings_env, capsys):
    from tools.twilio_sandbox import Fault

    settings_env(WEBHOOK_DEADLINE_S="0.8")
    twilio.inject_always("POST", f"/v1/Conversations/{CONVERSATION_SID}/Participants", Fault(status=503))
    started = time.monotonic()
    response = route(client, "+15558675310")
    assert response.status_code == 200
    assert time.monotonic() - started < 0.8 + 0.5
    assert twilio.identities_in(CONVERSATION_SID) == []
    errors = messages(json_logs(capsys.readouterr().out), "ERROR")
    assert errors and "routing" in errors[0]


# --- contract: the participant create is one Twilio accepts ----------------------------------------

_ANSI = re.compile(r"\x1b\[[0-9;]*m")


def prism_lines_for(path: str, wait_s: float = 3.0) -> list[str]:
    """Prism's log lines for the request to `path` (unique per test, as the log may be shared)."""
    stop_at = time.monotonic() + wait_s
    while True:
        text = _ANSI.sub("", PRISM_LOG.read_bytes().decode("utf-8", errors="replace").replace("\x00", ""))
        lines: list[str] = []
        inside = False
        for line in text.splitlines():
            if "[HTTP SERVER]" in line:
                inside = f" {path} " in line
            if inside:
                lines.append(line)
        if any("Responding with" in line or "Request terminated" in line for line in lines) or time.monotonic() > stop_at:
            return lines


def test_the_participant_create_is_accepted_by_twilios_spec(client, people, prism, settings_env, capsys):
    settings_env(TWILIO_API_BASE_URL=prism)
    conversation_sid = "CH%032x" % random.getrandbits(128)
    response = route(client, "+15558675310", conversation_sid=conversation_sid)
    assert response.status_code == 200
    logs = json_logs(capsys.readouterr().out)
    assert messages(logs, "ERROR") == []
    assert "worker added to conversation" in messages(logs)
    lines = prism_lines_for(f"/v1/Conversations/{conversation_sid}/Participants")
    assert lines and "post " in lines[0].lower(), lines
    assert any("passed the validation rules" in line for line in lines), lines
    assert not [line for line in lines if "✖" in line or "did not pass the validation" in line], lines


def test_a_create_twilio_would_refuse_is_an_error_not_a_success(client, people, prism, settings_env, capsys):
    """Negative control for the test above: a path Twilio does not serve must not log success."""
    settings_env(TWILIO_API_BASE_URL=prism + "/not-twilio", WEBHOOK_DEADLINE_S="1.0")
    conversation_sid = "CH%032x" % random.getrandbits(128)
    response = route(client, "+15558675310", conversation_sid=conversation_sid)
    assert response.status_code == 200
    logs = json_logs(capsys.readouterr().out)
    assert "worker added to conversation" not in messages(logs)
    assert messages(logs, "ERROR")
    lines = prism_lines_for(f"/not-twilio/v1/Conversations/{conversation_sid}/Participants")
    assert any("Request terminated" in line for line in lines), lines
