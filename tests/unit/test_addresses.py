"""store.addresses: every spelling of an address to one `customer_addresses` document id."""

from __future__ import annotations

import pytest

from store.addresses import MAX_DOCUMENT_ID_BYTES as MAX_KEY_BYTES, address_key, is_phone_number, strip_channel_prefix


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


@pytest.mark.parametrize("text", ["agent 5558675310", "1-800-FLOWERS", "call 555-867-5310", "5558675310 ext. ada"])
def test_text_with_digits_that_is_not_phone_like_never_takes_a_phone_key(text):
    # phonenumbers alone would read "+15558675310" out of each of these (and 1-800-FLOWERS as
    # +18003569377): a chat identity must not land on a phone customer's index entry.
    assert address_key(text) == text.lower()
    assert not is_phone_number(text)


def test_a_phone_key_needs_at_least_four_digits():
    # Niue has four-digit numbers, so only our minimum decides at four.
    assert address_key("4002", "NU") == "+6834002"
    assert is_phone_number("4002", "NU")
    assert address_key("123", "NU") == "123"
    assert not is_phone_number("123", "NU")


@pytest.mark.parametrize("raw, document_id", [
    ("/", "%2F"),
    ("a/b", "a%2Fb"),
    (".", "%2E"),
    ("..", "%2E%2E"),
    ("__x__", "%5F%5Fx%5F%5F"),
    ("__Name__", "%5F%5Fname%5F%5F"),
    ("____", "%5F%5F%5F%5F"),
    ("%", "%25"),
    ("50%off", "50%25off"),
    ("a_b/c.d", "a%5Fb%2Fc%2Ed"),
    ("é/ü", "%C3%A9%2F%C3%BC"),
])
def test_the_escaped_document_id_is_exactly_this(raw, document_id):
    # Stored index entries carry these ids: a change to the escaping would orphan every one of them.
    assert address_key(raw) == document_id


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
    assert address_key("x__") == "x__"
    assert address_key("__") == "__"  # Firestore reserves __.*__, four characters at least
    assert address_key("___") == "___"
    assert address_key("joe_worker") == "joe_worker"
    assert address_key("...") == "..."


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


@pytest.mark.parametrize("address, rest", [
    (" WhatsApp: +15558675310 ", "+15558675310"),
    ("sms:mms:+15558675310", "mms:+15558675310"),  # one prefix, not every one
    ("ada whatsapp:+1", "ada whatsapp:+1"),  # only at the start
    ("fax:+15558675310", "fax:+15558675310"),
])
def test_strip_channel_prefix(address, rest):
    assert strip_channel_prefix(address) == rest


@pytest.mark.parametrize("address", ["+15558675310", "whatsapp:+15558675310", " sms:(555) 867-5310 ", "555.867.5310"])
def test_phone_numbers_are_recognised_in_the_default_region_us(address):
    assert is_phone_number(address) is True


def test_a_national_number_is_a_phone_number_only_in_a_region_that_has_it():
    assert is_phone_number("07700 900123", "GB") is True
    assert is_phone_number("07700 900123", "US") is False


@pytest.mark.parametrize("address", ["ada@example.com", "joe.worker", "", "whatsapp:", "12"])
def test_other_addresses_are_not_phone_numbers(address):
    assert is_phone_number(address) is False
