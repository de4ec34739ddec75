"""GetProxyAddress end to end: which number a worker texts a customer from (their own, or the
configured one), read from the workers collection in the Firestore emulator."""

from __future__ import annotations

import pytest

from tests.frontline_people import ALICE, BOB, CAROL, crm, error_of, proxy


def test_a_worker_with_an_own_number_texts_from_it(client, workers, settings_env):
    settings_env(TWILIO_SMS_NUMBER="+15005550100", TWILIO_WHATSAPP_NUMBER="+15005550101")
    assert proxy(client, ALICE, "sms").get_json() == {"proxy_address": "+15005550006"}
    assert proxy(client, ALICE, "whatsapp").get_json() == {"proxy_address": "whatsapp:+15005550007"}


def test_a_worker_without_an_own_number_texts_from_the_configured_one(client, workers, settings_env):
    settings_env(TWILIO_SMS_NUMBER="+15005550100", TWILIO_WHATSAPP_NUMBER="+15005550101")
    for worker in (BOB, CAROL):  # bob has a workers doc without numbers; carol has none at all
        response = proxy(client, worker, "sms")
        assert response.status_code == 200
        assert response.get_json() == {"proxy_address": "+15005550100"}
        assert proxy(client, worker, "whatsapp").get_json() == {"proxy_address": "whatsapp:+15005550101"}


def test_a_whatsapp_number_already_prefixed_is_not_prefixed_twice(client, workers, settings_env):
    settings_env(TWILIO_WHATSAPP_NUMBER="whatsapp:+15005550101")
    assert proxy(client, BOB, "whatsapp").get_json() == {"proxy_address": "whatsapp:+15005550101"}


def test_channel_type_is_compared_case_insensitively(client, workers, settings_env):
    settings_env(TWILIO_SMS_NUMBER="+15005550100")
    assert proxy(client, BOB, "SMS").get_json() == {"proxy_address": "+15005550100"}


@pytest.mark.parametrize("channel_type", ["sms", "whatsapp"])
def test_no_proxy_number_configured_is_403_with_a_reason(client, workers, settings_env, channel_type):
    settings_env(TWILIO_SMS_NUMBER=None, TWILIO_WHATSAPP_NUMBER=None)
    response = proxy(client, BOB, channel_type)
    assert response.status_code == 403
    reason = error_of(response)
    assert channel_type in reason and "proxy address" in reason


def test_get_proxy_address_without_channel_type_is_400(client, workers, settings_env):
    settings_env(TWILIO_SMS_NUMBER="+15005550100")
    response = crm(client, "GetProxyAddress", ALICE, CustomerId="ada", ChannelValue="+15558675310")
    assert response.status_code == 400
    assert error_of(response) == "missing required field: ChannelType"
