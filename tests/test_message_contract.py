"""The participant list onMessageAdd reads is a request Twilio's own OpenAPI description accepts
(Prism, as in test_contract_prism.py). Prism answers the spec's example: an SMS customer at
+15558675310 and a chat user, so with that number's customer opted out the worker's message
is refused, through Twilio's real answer shape."""

from __future__ import annotations

from tests.conftest import ADA, json_logs, signed_post
from tests.test_contract_prism import prism_requests, rejected, unique_conversation_sid
from tools import webhook_forms


def test_the_participant_list_is_accepted_by_twilios_spec_and_its_answer_is_read(client, store, prism, settings_env, capsys):
    settings_env(TWILIO_API_BASE_URL=prism, WEBHOOK_DEADLINE_S="4.5")
    store.upsert("ada", {**ADA, "opted_out": True, "opted_out_changed_at": "2026-11-26T12:00:00Z"})
    conversation_sid = unique_conversation_sid()
    form = webhook_forms.message("onMessageAdd", conversation_sid, body="Hello", author="alice@example.com", from_customer=False)
    response = signed_post(client, form)
    assert response.status_code == 403, response.get_json()
    assert [line for line in json_logs(capsys.readouterr().out) if line["severity"] == "ERROR"] == []

    seen = prism_requests(conversation_sid, expected=1)
    assert [(method, path.split("?")[0]) for method, path, _ in seen] == [("GET", f"/v1/Conversations/{conversation_sid}/Participants")]
    for method, path, lines in seen:
        assert any("passed the validation rules" in line for line in lines), (method, path, lines)
        assert rejected(lines) == [], (method, path, lines)
