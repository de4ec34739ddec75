"""Requests signed as Twilio signs them, and the forms Twilio sends."""

from __future__ import annotations

import http.client
import json
from collections.abc import Sequence
from pathlib import Path
from typing import Any
from urllib.parse import urlencode

from bench.common import ACCOUNT_SID, AUTH_TOKEN, LIST_PAGE_SIZE

# --- signed requests ------------------------------------------------------------------------

def signature(url: str, form: dict[str, str]) -> str:
    from twilio.request_validator import RequestValidator

    return RequestValidator(AUTH_TOKEN).compute_signature(url, form)


def conversation_add_form(address: str | None) -> dict[str, str]:
    """A pre-event as Twilio sends it; address None: a conversation created over REST, no binding yet."""
    if address is None:
        return {key: value for key, value in conversation_add_form("").items() if not key.startswith("MessagingBinding.")}
    return {
        "EventType": "onConversationAdd", "AccountSid": ACCOUNT_SID, "ChatServiceSid": "IS" + "0" * 32,
        "MessagingServiceSid": "MG" + "0" * 32, "MessagingBinding.Address": address,
        "MessagingBinding.ProxyAddress": "+15005550006", "MessagingBinding.Type": "sms", "MessageBody": "Hello!",
        "Attributes": "{}", "State": "active", "Source": "SMS", "RetryCount": "0",
    }


def participant_added_form(conversation_sid: str, participant_sid: str, address: str) -> dict[str, str]:
    return {
        "EventType": "onParticipantAdded", "AccountSid": ACCOUNT_SID, "ChatServiceSid": "IS" + "0" * 32,
        "ConversationSid": conversation_sid, "ParticipantSid": participant_sid, "MessagingBinding.Address": address,
        "MessagingBinding.ProxyAddress": "+15005550006", "MessagingBinding.Type": "sms", "Attributes": "{}",
        "RoleSid": "RL" + "0" * 32, "DateCreated": "2026-11-26T12:00:00.000Z", "Source": "SMS", "RetryCount": "0",
    }


def customers_list_form(worker: str) -> dict[str, str]:
    return {"Location": "GetCustomersList", "Worker": worker, "PageSize": str(LIST_PAGE_SIZE)}


def post(port: int, path: str, form: dict[str, str], timeout: float = 10.0) -> tuple[int, Any]:
    body = urlencode(form)
    connection = http.client.HTTPConnection("127.0.0.1", port, timeout=timeout)
    try:
        connection.request("POST", path, body, {"Content-Type": "application/x-www-form-urlencoded",
                                                "X-Twilio-Signature": signature(f"http://127.0.0.1:{port}{path}", form)})
        response = connection.getresponse()
        data = response.read()
    finally:
        connection.close()
    try:
        return response.status, json.loads(data)
    except ValueError:
        return response.status, data.decode(errors="replace")


def write_requests(path: Path, port: int, requests: Sequence[tuple[str, dict[str, str]]]) -> Path:
    """One pre-signed request a line, for wrk_signed.lua: '<path> <signature> <body>'."""
    with open(path, "w") as out:
        for url_path, form in requests:
            out.write(f"{url_path} {signature(f'http://127.0.0.1:{port}{url_path}', form)} {urlencode(form)}\n")
    return path


