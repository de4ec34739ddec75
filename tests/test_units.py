"""Pure rules, no emulator and no HTTP: address keys, profile validation, reply shaping,
configuration and log masking."""

from __future__ import annotations

import json

import pytest
from werkzeug.datastructures import MultiDict

from handlers.conversation_shapes import (
    GroupAddress,
    conversation_add_reply,
    customer_address,
    is_customer_participant,
    merge_participant_attributes,
    parse_attributes,
)
from runtime.config import ConfigError, from_environ
from runtime.logs import mask_address
from store.addresses import MAX_DOCUMENT_ID_BYTES as MAX_KEY_BYTES, address_key
from store.profiles import CustomerCard, InvalidProfile, customer_id_of, validate_profile

# --- store.addresses.address_key ------------------------------------------------------------


@pytest.mark.parametrize("spelling", [
    "+15558675310",
    "whatsapp:+15558675310",
    "WhatsApp:+15558675310",
    "sms:+15558675310",
    "mms:+15558675310",
    "(555) 867-5310",
    "555.867.5310",
    "555-867-5310",
    "+1 555 867 5310",
    "  +15558675310  ",
    "whatsapp: (555) 867-5310",
])
def test_every_spelling_of_one_us_number_is_one_e164_key(spelling):
    assert address_key(spelling) == "+15558675310"


@pytest.mark.parametrize("national, e164", [
    ("020 7946 0018", "+442079460018"),
    ("07700 900123", "+447700900123"),
    ("whatsapp:07700 900123", "+447700900123"),
])
def test_national_numbers_use_the_default_region(national, e164):
    assert address_key(national, "GB") == e164


def test_the_same_national_number_is_not_a_uk_number_in_the_us():
    assert address_key("07700 900123", "US") != "+447700900123"


def test_an_international_number_ignores_the_default_region():
    assert address_key("+447700900123", "US") == address_key("+447700900123", "GB") == "+447700900123"


def test_emails_are_lower_cased():
    assert address_key("Ada.Lovelace@Example.COM") == "ada.lovelace@example.com"


def test_chat_identities_are_lower_cased():
    assert address_key("Joe.Worker") == address_key("joe.worker") == "joe.worker"


@pytest.mark.parametrize("raw", ["/", "a/b", ".", "..", "__x__", "__name__", "%", "50%off"])
def test_keys_that_cannot_be_document_ids_are_escaped(raw):
    key = address_key(raw)
    assert key is not None
    assert "/" not in key
    assert key not in (".", "..")
    assert not (key.startswith("__") and key.endswith("__"))
    assert key != raw.lower()


def test_escaped_keys_are_distinct_from_the_raw_forms_of_their_escapes():
    raws = ["/", "%2F", "a/b", "a%2Fb", ".", "%2E", "..", "%2E%2E", "__x__", "%5F%5Fx%5F%5F",
            "%", "%25", "%2525", "a.b", "__x", "x__", "_", "%5F"]
    keys = [address_key(raw) for raw in raws]
    assert None not in keys
    collisions = {key: [r for r, k in zip(raws, keys) if k == key] for key in keys if keys.count(key) > 1}
    assert not collisions, collisions


def test_ordinary_values_are_not_escaped():
    assert address_key("a.b") == "a.b"
    assert address_key("__x") == "__x"
    assert address_key("joe_worker") == "joe_worker"


def test_a_key_up_to_the_limit_is_kept_and_one_byte_more_is_none():
    assert address_key("a" * MAX_KEY_BYTES) == "a" * MAX_KEY_BYTES
    assert address_key("a" * (MAX_KEY_BYTES + 1)) is None


def test_the_limit_counts_utf8_bytes_not_characters():
    assert address_key("é" * 750) == "é" * 750  # 1500 bytes
    assert address_key("é" * 751) is None  # 1502 bytes, 751 characters


def test_the_limit_applies_after_escaping():
    assert address_key("/" * 500) is not None  # 1500 bytes escaped
    assert address_key("/" * 501) is None  # 501 bytes raw, 1503 escaped


@pytest.mark.parametrize("empty", ["", "   ", "whatsapp:", "sms:  ", "MMS:"])
def test_empty_addresses_have_no_key(empty):
    assert address_key(empty) is None


# --- store.profiles.validate_profile --------------------------------------------------------

GOOD = {
    "display_name": "Ada Lovelace",
    "avatar": "https://example.com/ada.png",
    "channels": [{"type": "sms", "value": "+15558675310"}, {"type": "email", "value": "ada@example.com"}],
}


def test_a_good_profile_is_accepted_and_cleaned():
    clean = validate_profile({**GOOD, "display_name": "  Ada Lovelace ", "worker": "joe"}, "US")
    assert clean["display_name"] == "Ada Lovelace"
    assert clean["worker"] == "joe"
    assert clean["channels"] == GOOD["channels"]


@pytest.mark.parametrize("display_name", [None, "", "   ", 42])
def test_display_name_is_required(display_name):
    profile = {k: v for k, v in GOOD.items() if k != "display_name"}
    if display_name is not None:
        profile["display_name"] = display_name
    with pytest.raises(InvalidProfile, match="display_name"):
        validate_profile(profile, "US")


@pytest.mark.parametrize("avatar", ["http://example.com/ada.png", "/ada.png", "example.com/ada.png", "https://", 7])
def test_avatar_must_be_an_absolute_https_url(avatar):
    with pytest.raises(InvalidProfile, match="avatar"):
        validate_profile({**GOOD, "avatar": avatar}, "US")


def test_an_empty_avatar_is_dropped():
    assert "avatar" not in validate_profile({**GOOD, "avatar": ""}, "US")


@pytest.mark.parametrize("kind", ["fax", "SMS", "", None])
def test_channel_type_must_be_known(kind):
    with pytest.raises(InvalidProfile, match="channel type"):
        validate_profile({**GOOD, "channels": [{"type": kind, "value": "+15558675310"}]}, "US")


@pytest.mark.parametrize("kind", ["sms", "whatsapp"])
def test_phone_channels_need_a_phone_number(kind):
    with pytest.raises(InvalidProfile, match="not a phone number"):
        validate_profile({**GOOD, "channels": [{"type": kind, "value": "ada@example.com"}]}, "US")


def test_email_channel_needs_an_at_sign():
    with pytest.raises(InvalidProfile, match="email"):
        validate_profile({**GOOD, "channels": [{"type": "email", "value": "ada.example.com"}]}, "US")


def test_a_channel_without_a_value_is_refused():
    with pytest.raises(InvalidProfile, match="no value"):
        validate_profile({**GOOD, "channels": [{"type": "chat", "value": "  "}]}, "US")


def test_channels_must_be_a_list():
    with pytest.raises(InvalidProfile, match="channels"):
        validate_profile({**GOOD, "channels": {"type": "sms", "value": "+15558675310"}}, "US")


def test_links_need_https_urls():
    with pytest.raises(InvalidProfile, match="link"):
        validate_profile({**GOOD, "links": [{"type": "crm", "value": "http://crm.example.com/ada", "display_name": "CRM"}]}, "US")


def test_national_sms_numbers_are_checked_in_the_default_region():
    validate_profile({**GOOD, "channels": [{"type": "sms", "value": "07700 900123"}]}, "GB")


def test_customer_ids_are_strings():
    assert customer_id_of(42) == "42"
    assert customer_id_of(" ada ") == "ada"


@pytest.mark.parametrize("bad", [None, "", "  ", "a/b", ".", "..", "__x__"])
def test_customer_ids_that_cannot_be_document_ids_are_refused(bad):
    with pytest.raises(InvalidProfile):
        customer_id_of(bad)


# --- handlers.conversation_shapes -------------------------------------------------------------

CARD = CustomerCard("ada", "Ada Lovelace", "https://example.com/ada.png")


def test_merge_fills_every_gap_from_the_profile():
    assert merge_participant_attributes({}, CARD) == {
        "customer_id": "ada", "display_name": "Ada Lovelace", "avatar": "https://example.com/ada.png"}


def test_merge_keeps_existing_non_empty_values():
    existing = {"customer_id": "crm-77", "display_name": "Countess", "avatar": "https://example.com/own.png"}
    assert merge_participant_attributes(existing, CARD) == existing


def test_merge_treats_empty_string_and_null_as_gaps():
    merged = merge_participant_attributes({"customer_id": "", "display_name": None, "avatar": "https://x.test/a.png"}, CARD)
    assert merged == {"customer_id": "ada", "display_name": "Ada Lovelace", "avatar": "https://x.test/a.png"}


def test_merge_keeps_unrelated_keys_and_does_not_touch_its_input():
    existing = {"tier": "gold", "nested": {"a": [1]}, "display_name": "Countess"}
    before = json.loads(json.dumps(existing))
    merged = merge_participant_attributes(existing, CARD)
    assert merged == {**existing, "customer_id": "ada", "avatar": "https://example.com/ada.png"}
    assert existing == before


def test_merge_does_not_add_an_avatar_the_profile_lacks():
    assert "avatar" not in merge_participant_attributes({}, CustomerCard("ada", "Ada Lovelace"))


def test_merge_is_idempotent():
    once = merge_participant_attributes({"tier": "gold"}, CARD)
    assert merge_participant_attributes(once, CARD) == once


def test_reply_for_a_known_customer_names_the_conversation_and_adds_the_avatar():
    reply = conversation_add_reply("+15558675310", CARD, '{"source": "web"}')
    assert reply["friendly_name"] == "Ada Lovelace"
    assert isinstance(reply["attributes"], str)
    assert json.loads(reply["attributes"]) == {"source": "web", "avatar": "https://example.com/ada.png"}


def test_reply_for_an_unknown_customer_is_the_address():
    assert conversation_add_reply("+15558675310", None, '{"source": "web"}') == {"friendly_name": "+15558675310"}


def test_reply_keeps_an_avatar_already_there():
    assert conversation_add_reply("+15558675310", CARD, '{"avatar": "https://x.test/a.png"}') == {"friendly_name": "Ada Lovelace"}


def test_reply_without_a_profile_avatar_has_no_attributes():
    assert conversation_add_reply("+15558675310", CustomerCard("ada", "Ada Lovelace"), None) == {"friendly_name": "Ada Lovelace"}


def test_reply_leaves_attributes_that_are_not_an_object_alone():
    assert conversation_add_reply("+15558675310", CARD, "[1, 2]") == {"friendly_name": "Ada Lovelace"}


def test_reply_keeps_unicode_readable():
    reply = conversation_add_reply("+15558675310", CARD, '{"note": "café"}')
    assert "café" in reply["attributes"]


@pytest.mark.parametrize("raw, parsed", [
    (None, {}),
    ("", {}),
    ("   ", {}),
    ("{}", {}),
    ('{"a": 1}', {"a": 1}),
    ("null", None),
    ("[]", None),
    ('"text"', None),
    ("{bad", None),
    ("[" * 100_000, None),
])
def test_parse_attributes(raw, parsed):
    assert parse_attributes(raw) == parsed


def test_customer_address_single_value():
    assert customer_address(MultiDict([("MessagingBinding.Address", " +15558675310 ")])) == "+15558675310"


def test_customer_address_absent_or_blank_is_none():
    assert customer_address(MultiDict()) is None
    assert customer_address(MultiDict([("MessagingBinding.Address", "  ")])) is None


def test_customer_address_repeated_is_a_group():
    form = MultiDict([("MessagingBinding.Address", "+15558675310"), ("MessagingBinding.Address", "+15550001111")])
    address = customer_address(form)
    assert isinstance(address, GroupAddress)
    assert "+15558675310" in address and "+15550001111" in address


def test_customer_address_json_list_is_a_group():
    address = customer_address(MultiDict([("MessagingBinding.Address", '["+15558675310", "+15550001111"]')]))
    assert isinstance(address, GroupAddress)


def test_customer_address_repeated_with_one_blank_is_that_one_address():
    form = MultiDict([("MessagingBinding.Address", "+15558675310"), ("MessagingBinding.Address", "")])
    address = customer_address(form)
    assert address == "+15558675310" and not isinstance(address, GroupAddress)


def test_a_customer_participant_has_an_address_and_no_identity():
    assert is_customer_participant(MultiDict([("MessagingBinding.Address", "+15558675310")]))
    assert is_customer_participant(MultiDict([("MessagingBinding.Address", "+15558675310"), ("Identity", " ")]))
    assert not is_customer_participant(MultiDict([("MessagingBinding.Address", "+15558675310"), ("Identity", "joe")]))
    assert not is_customer_participant(MultiDict([("Identity", "joe")]))


# --- runtime.config.from_environ -----------------------------------------------------------------

BASE_ENV = {"TWILIO_AUTH_TOKEN": "secret-token-value", "TWILIO_ACCOUNT_SID": "AC" + "0" * 32}


def test_minimal_environment_gets_the_documented_defaults():
    settings = from_environ(BASE_ENV)
    assert settings.auth_token == "secret-token-value"
    assert settings.deadline_s == 2.5
    assert settings.default_region == "US"
    assert settings.customers_collection == "customers"
    assert settings.twilio_api_base_url == "https://conversations.twilio.com"
    assert settings.public_url == ""


def test_missing_auth_token_is_named():
    with pytest.raises(ConfigError) as raised:
        from_environ({"TWILIO_ACCOUNT_SID": BASE_ENV["TWILIO_ACCOUNT_SID"]})
    assert "TWILIO_AUTH_TOKEN" in str(raised.value)
    assert "TWILIO_ACCOUNT_SID" not in str(raised.value)


def test_blank_auth_token_counts_as_missing():
    with pytest.raises(ConfigError, match="TWILIO_AUTH_TOKEN"):
        from_environ({**BASE_ENV, "TWILIO_AUTH_TOKEN": "   "})


def test_both_missing_are_both_named():
    with pytest.raises(ConfigError) as raised:
        from_environ({})
    assert "TWILIO_AUTH_TOKEN" in str(raised.value) and "TWILIO_ACCOUNT_SID" in str(raised.value)


@pytest.mark.parametrize("extra", [{"TWILIO_API_KEY": "SK" + "1" * 32}, {"TWILIO_API_SECRET": "api-secret-value"}])
def test_api_key_and_secret_come_together(extra):
    with pytest.raises(ConfigError) as raised:
        from_environ({**BASE_ENV, **extra})
    message = str(raised.value)
    assert "TWILIO_API_KEY" in message and "TWILIO_API_SECRET" in message
    assert "secret-token-value" not in message and "api-secret-value" not in message


def test_api_key_with_secret_is_accepted():
    settings = from_environ({**BASE_ENV, "TWILIO_API_KEY": "SK" + "1" * 32, "TWILIO_API_SECRET": "s"})
    assert settings.api_key.startswith("SK") and settings.api_secret == "s"


@pytest.mark.parametrize("deadline", ["5", "5.0", "7", "30"])
def test_deadline_at_or_over_twilios_timeout_is_refused(deadline):
    with pytest.raises(ConfigError, match="WEBHOOK_DEADLINE_S"):
        from_environ({**BASE_ENV, "WEBHOOK_DEADLINE_S": deadline})


@pytest.mark.parametrize("deadline", ["abc", "2,5", "0", "-1"])
def test_deadline_that_is_not_a_positive_number_is_refused(deadline):
    with pytest.raises(ConfigError, match="WEBHOOK_DEADLINE_S"):
        from_environ({**BASE_ENV, "WEBHOOK_DEADLINE_S": deadline})


def test_deadline_just_under_five_is_accepted():
    assert from_environ({**BASE_ENV, "WEBHOOK_DEADLINE_S": "4.9"}).deadline_s == 4.9


def test_region_is_upper_cased_and_base_url_loses_its_trailing_slash():
    settings = from_environ({**BASE_ENV, "DEFAULT_REGION": "gb", "TWILIO_API_BASE_URL": "http://127.0.0.1:9000/"})
    assert settings.default_region == "GB"
    assert settings.twilio_api_base_url == "http://127.0.0.1:9000"


# --- runtime.logs.mask_address ------------------------------------------------------------------

@pytest.mark.parametrize("address, masked", [
    ("+15558675310", "***5310"),
    ("whatsapp:+15558675310", "***5310"),
    ("+447700900123", "***0123"),
    ("12345", "***2345"),
    ("1234", "***"),
    ("12", "***"),
    ("", ""),
])
def test_mask_address_keeps_only_the_last_four(address, masked):
    assert mask_address(address) == masked


def test_mask_address_never_contains_the_number():
    assert "5558675310" not in mask_address("+15558675310")
    assert "867" not in mask_address("(555) 867-5310")


def test_whatsapp_approval_typed_as_text_is_read_as_text():
    from handlers.frontline_shapes import is_approved

    assert [is_approved(v) for v in (True, "true", "TRUE", "1")] == [True] * 4
    assert [is_approved(v) for v in (False, "false", "", None, "no", 0)] == [False] * 6


def test_a_log_level_typo_is_a_start_up_error():
    from runtime.config import ConfigError, from_environ

    with pytest.raises(ConfigError, match="LOG_LEVEL"):
        from_environ({"TWILIO_AUTH_TOKEN": "t", "TWILIO_ACCOUNT_SID": "AC1", "LOG_LEVEL": "VERBOSE"})
    assert from_environ({"TWILIO_AUTH_TOKEN": "t", "TWILIO_ACCOUNT_SID": "AC1", "LOG_LEVEL": "debug"}).log_level == "DEBUG"


def test_document_ids_firestore_refuses_are_recognised():
    from store.addresses import is_document_id

    assert [is_document_id(v) for v in ("ada", "42", "a.b", "x" * 1500)] == [True] * 4
    assert [is_document_id(v) for v in ("", ".", "..", "__x__", "a/b", "x" * 1501)] == [False] * 6
