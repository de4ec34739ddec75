"""What every Frontline callback shares: routing by path and Location, ids Firestore cannot
hold, and a hung Firestore answered within the deadline."""

from __future__ import annotations

import time
from urllib.parse import urlencode

import pytest

from tests.conftest import json_logs, sign
from tests.frontline_people import ALICE, BOB, crm, customers_list, details, error_of, get_templates, listed, messages, proxy


# --- routing by path and Location ----------------------------------------------------------------

def test_each_callback_is_served_at_its_own_path(client, people, workers, templates, settings_env):
    settings_env(TWILIO_SMS_NUMBER="+15005550100")
    assert [c["customer_id"] for c in listed(customers_list(client, PageSize="30", Query="ada", path="/crm"))] == ["ada", "adam"]
    response = crm(client, "GetCustomerDetailsByCustomerId", ALICE, path="/crm", CustomerId="ada")
    assert response.status_code == 200 and response.get_json()["objects"]["customer"]["customer_id"] == "ada"
    assert proxy(client, BOB, "sms", path="/outgoing").get_json() == {"proxy_address": "+15005550100"}
    response = get_templates(client, "ada", path="/templates")
    assert response.status_code == 200 and response.get_json()[0]["display_name"] == "Greetings"


def test_a_trailing_slash_on_the_family_path_routes_the_same(client, people):
    response = crm(client, "GetCustomerDetailsByCustomerId", ALICE, path="/crm/", CustomerId="ada")
    assert response.status_code == 200


@pytest.mark.parametrize(("path", "location"), [
    ("/crm", "GetProxyAddress"), ("/crm", "GetTemplatesByCustomerId"),
    ("/outgoing", "GetCustomersList"), ("/templates", "GetCustomerDetailsByCustomerId"),
])
def test_a_location_of_another_family_at_a_family_path_is_422(client, people, settings_env, path, location):
    settings_env(TWILIO_SMS_NUMBER="+15005550100")
    response = crm(client, location, ALICE, path=path, CustomerId="ada", ChannelType="sms", PageSize="30")
    assert response.status_code == 422
    assert location in error_of(response)


@pytest.mark.parametrize("path", ["/", "/crm", "/outgoing", "/templates"])
def test_an_unknown_location_is_422(client, people, path, capsys):
    response = crm(client, "GetCustomerSecrets", ALICE, path=path, CustomerId="ada")
    assert response.status_code == 422
    reason = error_of(response)
    assert "GetCustomerSecrets" in reason
    assert any(reason in line["message"] and line["severity"] != "ERROR" for line in json_logs(capsys.readouterr().out))


def test_a_request_signed_over_another_path_is_refused(client, people):
    params = {"Location": "GetCustomerDetailsByCustomerId", "Worker": ALICE, "CustomerId": "ada"}
    response = client.post("/crm", data=urlencode(params), content_type="application/x-www-form-urlencoded",
                           headers={"X-Twilio-Signature": sign("http://localhost/", params)})
    assert response.status_code == 403


# --- ids Firestore cannot hold, and a hung Firestore -----------------------------------------

@pytest.mark.parametrize("bad_id", ["__x__", ".", "..", "x" * 1600])
def test_ids_firestore_cannot_hold_are_unknown_not_a_server_error(client, people, templates, bad_id):
    assert details(client, bad_id).status_code == 404
    assert get_templates(client, bad_id).status_code == 404
    assert listed(customers_list(client, PageSize="30", Anchor=bad_id)) == []
    assert crm(client, "GetProxyAddress", bad_id, ChannelType="sms").status_code == 403  # no worker document, no number
    assert details(client, "ada", worker=bad_id).status_code == 403


def test_a_hung_firestore_cannot_hold_a_callback_past_the_deadline(client, settings_env, capsys):
    from tests.test_conversation_add import BlackHole

    hole = BlackHole()
    settings_env(FIRESTORE_EMULATOR_HOST=hole.host_port, WEBHOOK_DEADLINE_S="1.0")
    try:
        started = time.monotonic()
        response = customers_list(client, PageSize="30")
        elapsed = time.monotonic() - started
    finally:
        hole.close()
    # A store fault is ours and passing: 503 (retry later), one line saying which read, logged at ERROR.
    assert response.status_code == 503
    assert response.get_json() == {"error": "customer list took longer than the 1.00s deadline"}
    assert elapsed < 1.0 + 0.5, f"answered after {elapsed:.2f}s, deadline 1.0s"
    assert messages(json_logs(capsys.readouterr().out), "ERROR") == ["rejected: customer list took longer than the 1.00s deadline"]
