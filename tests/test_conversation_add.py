"""onConversationAdd (pre-event) end to end: signed request → real emulator → JSON answer."""

from __future__ import annotations

import json
import socket
import threading
import time

import pytest

from tests.conftest import ADA, json_logs, signed_post


def conversation_add(client, address=None, attributes=None, **extra):
    params = {"EventType": "onConversationAdd", "ChatServiceSid": "IS" + "0" * 32, "State": "active", **extra}
    if address is not None:
        params["MessagingBinding.Address"] = address
        params["MessagingBinding.ProxyAddress"] = "+15005550006"
    if attributes is not None:
        params["Attributes"] = attributes
    return signed_post(client, params)


def test_known_customer_by_sms_gets_profile_name_and_avatar(client, store):
    store.upsert("ada", ADA)
    response = conversation_add(client, "+15558675310")
    assert response.status_code == 200
    body = response.get_json()
    assert body["friendly_name"] == "Ada Lovelace"
    assert json.loads(body["attributes"]) == {"avatar": "https://example.com/ada.png"}


def test_same_customer_found_by_whatsapp_address_when_only_sms_is_stored(client, store):
    store.upsert("ada", ADA)
    body = conversation_add(client, "whatsapp:+15558675310").get_json()
    assert body["friendly_name"] == "Ada Lovelace"


def test_number_stored_in_national_format_is_found_by_e164(client, store):
    store.upsert("ada", {**ADA, "channels": [{"type": "sms", "value": "(555) 867-5310"}]})
    assert conversation_add(client, "+15558675310").get_json()["friendly_name"] == "Ada Lovelace"


def test_unknown_address_becomes_the_friendly_name(client, store):
    store.upsert("ada", ADA)
    assert conversation_add(client, "+15550001111").get_json() == {"friendly_name": "+15550001111"}


def test_no_address_leaves_the_conversation_unchanged(client):
    response = conversation_add(client)
    assert response.status_code == 200
    assert response.get_json() == {}


def test_incoming_attribute_keys_are_kept_beside_the_avatar(client, store):
    store.upsert("ada", ADA)
    incoming = {"source": "campaign-7", "nested": {"a": [1, 2]}}
    body = conversation_add(client, "+15558675310", attributes=json.dumps(incoming)).get_json()
    assert json.loads(body["attributes"]) == {**incoming, "avatar": "https://example.com/ada.png"}


def test_an_avatar_already_in_the_attributes_is_not_replaced(client, store):
    store.upsert("ada", ADA)
    body = conversation_add(client, "+15558675310", attributes='{"avatar": "https://example.com/own.png"}').get_json()
    assert body == {"friendly_name": "Ada Lovelace"}


def test_attributes_that_are_not_json_are_left_alone_and_the_name_still_set(client, store):
    store.upsert("ada", ADA)
    response = conversation_add(client, "+15558675310", attributes="{not json")
    assert response.status_code == 200
    assert response.get_json() == {"friendly_name": "Ada Lovelace"}


def test_second_customer_cannot_claim_an_address_the_first_owns(client, store):
    from store.customers import AddressConflict

    store.upsert("ada", ADA)
    with pytest.raises(AddressConflict) as raised:
        store.upsert("eve", {"display_name": "Eve", "channels": [{"type": "whatsapp", "value": "whatsapp:(555) 867-5310"}]})
    assert "ada" in str(raised.value) and "eve" in str(raised.value)
    assert store.get("eve") is None
    assert conversation_add(client, "+15558675310").get_json()["friendly_name"] == "Ada Lovelace"


class BlackHole:
    """A TCP listener that accepts connections and never answers: Firestore hung, not down."""

    def __init__(self) -> None:
        self.sock = socket.socket()
        self.sock.bind(("127.0.0.1", 0))
        self.sock.listen(16)
        self._host_port = "127.0.0.1:%d" % self.sock.getsockname()[1]
        self.accepted: list[socket.socket] = []
        threading.Thread(target=self._accept, daemon=True).start()

    @property
    def host_port(self) -> str:
        return self._host_port

    def _accept(self) -> None:
        while True:
            try:
                self.accepted.append(self.sock.accept()[0])
            except OSError:
                return

    def close(self) -> None:
        for conn in self.accepted:
            conn.close()
        self.accepted.clear()
        self.sock.close()


@pytest.mark.parametrize("firestore", ["hung", "refusing"])
def test_firestore_unreachable_still_answers_200_with_the_address_inside_the_deadline(client, settings_env, capsys, firestore):
    hole = BlackHole()
    if firestore == "refusing":
        hole.close()  # nothing listens on that port any more
    settings_env(FIRESTORE_EMULATOR_HOST=hole.host_port, WEBHOOK_DEADLINE_S="1.0")
    try:
        started = time.monotonic()
        response = conversation_add(client, "+15558675310")
        elapsed = time.monotonic() - started
    finally:
        hole.close()
    assert response.status_code == 200
    assert response.get_json() == {"friendly_name": "+15558675310"}
    assert elapsed < 1.0 + 0.5, f"answered after {elapsed:.2f}s, deadline 1.0s"
    errors = [line for line in json_logs(capsys.readouterr().out) if line["severity"] == "ERROR"]
    assert errors and "lookup" in errors[0]["message"]
