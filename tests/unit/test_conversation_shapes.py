"""handlers.conversation_shapes: the customer's address, the pre-event reply, the participant merge."""

from __future__ import annotations

import json

import pytest
from werkzeug.datastructures import MultiDict

from handlers.conversation_shapes import (
    MAX_FRIENDLY_NAME,
    MAX_NAMES_IN_GROUP,
    PROFILE_ATTRIBUTE_KEYS,
    GroupAddress,
    conversation_add_reply,
    customer_address,
    group_friendly_name,
    group_members,
    is_customer_participant,
    merge_participant_attributes,
    parse_attributes,
)
from store.profiles import CustomerCard

CARD = CustomerCard("ada", "Ada Lovelace", "https://example.com/ada.png")


def form(*addresses: str, **fields: str) -> MultiDict:
    return MultiDict([("MessagingBinding.Address", a) for a in addresses] + list(fields.items()))


# --- merge_participant_attributes ----------------------------------------------------------------


def test_the_profile_keys_are_these_three():
    assert PROFILE_ATTRIBUTE_KEYS == ("customer_id", "display_name", "avatar")


def test_merge_fills_every_gap_from_the_profile():
    assert merge_participant_attributes({}, CARD) == {
        "customer_id": "ada", "display_name": "Ada Lovelace", "avatar": "https://example.com/ada.png"}


def test_merge_keeps_existing_non_empty_values():
    existing = {"customer_id": "crm-77", "display_name": "Countess", "avatar": "https://example.com/own.png"}
    assert merge_participant_attributes(existing, CARD) == existing


def test_merge_treats_empty_string_and_null_as_gaps():
    merged = merge_participant_attributes({"customer_id": "", "display_name": None, "avatar": "https://x.test/a.png"}, CARD)
    assert merged == {"customer_id": "ada", "display_name": "Ada Lovelace", "avatar": "https://x.test/a.png"}


def test_merge_keeps_falsy_values_that_are_not_gaps():
    existing = {"customer_id": 0, "display_name": False, "avatar": []}
    assert merge_participant_attributes(existing, CARD) == existing


def test_merge_keeps_unrelated_keys_and_does_not_touch_its_input():
    existing = {"tier": "gold", "nested": {"a": [1]}, "display_name": "Countess"}
    before = json.loads(json.dumps(existing))
    merged = merge_participant_attributes(existing, CARD)
    assert merged == {**existing, "customer_id": "ada", "avatar": "https://example.com/ada.png"}
    assert existing == before


def test_merge_does_not_add_what_the_profile_lacks():
    assert merge_participant_attributes({}, CustomerCard("ada", "Ada Lovelace")) == {"customer_id": "ada", "display_name": "Ada Lovelace"}
    assert merge_participant_attributes({"display_name": ""}, CustomerCard("ada", "")) == {"customer_id": "ada", "display_name": ""}


def test_merge_is_idempotent():
    once = merge_participant_attributes({"tier": "gold"}, CARD)
    assert merge_participant_attributes(once, CARD) == once


# --- conversation_add_reply -----------------------------------------------------------------------


def test_reply_for_a_known_customer_names_the_conversation_and_adds_the_avatar():
    reply = conversation_add_reply("+15558675310", CARD, '{"source": "web"}')
    assert reply["friendly_name"] == "Ada Lovelace"
    assert isinstance(reply["attributes"], str)
    assert json.loads(reply["attributes"]) == {"source": "web", "avatar": "https://example.com/ada.png"}


def test_reply_adds_the_avatar_to_absent_or_empty_attributes():
    for raw in (None, "", "{}", '{"avatar": ""}'):
        reply = conversation_add_reply("+15558675310", CARD, raw)
        assert json.loads(reply["attributes"]) == {"avatar": "https://example.com/ada.png"}, raw


def test_reply_for_an_unknown_customer_is_the_address():
    assert conversation_add_reply("+15558675310", None, '{"source": "web"}') == {"friendly_name": "+15558675310"}


def test_reply_for_a_customer_without_a_name_is_the_address():
    card = CustomerCard("ada", "", "https://example.com/ada.png")
    assert conversation_add_reply("+15558675310", card, None)["friendly_name"] == "+15558675310"


def test_reply_keeps_an_avatar_already_there():
    assert conversation_add_reply("+15558675310", CARD, '{"avatar": "https://x.test/a.png"}') == {"friendly_name": "Ada Lovelace"}


def test_reply_without_a_profile_avatar_has_no_attributes():
    assert conversation_add_reply("+15558675310", CustomerCard("ada", "Ada Lovelace"), None) == {"friendly_name": "Ada Lovelace"}


def test_reply_leaves_attributes_that_are_not_an_object_alone():
    assert conversation_add_reply("+15558675310", CARD, "[1, 2]") == {"friendly_name": "Ada Lovelace"}


def test_reply_keeps_unicode_readable():
    reply = conversation_add_reply("+15558675310", CARD, '{"note": "café"}')
    assert reply["attributes"] == '{"note": "café", "avatar": "https://example.com/ada.png"}'


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


# --- the customer's address --------------------------------------------------------------------------


def test_customer_address_single_value():
    assert customer_address(form(" +15558675310 ")) == "+15558675310"


def test_customer_address_absent_or_blank_is_none():
    assert customer_address(MultiDict()) is None
    assert customer_address(form("  ")) is None
    assert customer_address(form("", " ")) is None


def test_customer_address_repeated_is_a_group_of_them_all():
    address = customer_address(form("+15558675310", "+15550001111"))
    assert isinstance(address, GroupAddress)
    assert address == "+15558675310,+15550001111"


def test_customer_address_json_list_is_a_group_as_written():
    raw = '["+15558675310", "+15550001111"]'
    address = customer_address(form(f" {raw} "))
    assert isinstance(address, GroupAddress)
    assert address == raw


def test_customer_address_repeated_with_one_blank_is_that_one_address():
    address = customer_address(form("+15558675310", ""))
    assert address == "+15558675310" and not isinstance(address, GroupAddress)


def test_a_customer_participant_has_an_address_and_no_identity():
    assert is_customer_participant(form("+15558675310"))
    assert is_customer_participant(form("+15558675310", Identity=" "))
    assert not is_customer_participant(form("+15558675310", Identity="joe"))
    assert not is_customer_participant(MultiDict([("Identity", "joe")]))
    assert not is_customer_participant(MultiDict())


# --- Group MMS: who is in the group, and the conversation's name -------------------------------------


@pytest.mark.parametrize("raw, members", [
    ("+15558675310,+15550001111", ["+15558675310", "+15550001111"]),
    (' ["+15558675310", "+15550001111"] ', ["+15558675310", "+15550001111"]),
    ("[+15558675310, +15550001111]", ["+15558675310", "+15550001111"]),  # Twilio's bracketed form is not JSON
    ('["+15558675310", 7, null, "", " +15550001111 "]', ["+15558675310", "+15550001111"]),
    ('[" \\"+15558675310\\" "]', ["+15558675310"]),
    ("+15558675310, ,+15550001111,+15558675310", ["+15558675310", "+15550001111"]),
    ('{"a": 1}', ['{"a": 1}']),
    ("AgentX,+15558675310", ["AgentX", "+15558675310"]),  # only brackets, quotes and spaces are trimmed
    ("[+15558675310, XAgentX]", ["+15558675310", "XAgentX"]),
    ("[", []),
    ("[[", []),
])
def test_group_members(raw, members):
    assert group_members(GroupAddress(raw)) == members


ANN = CustomerCard("ann", "Ann")
BOB = CustomerCard("bob", "Bob")


def test_a_group_is_named_known_customers_first_then_the_other_addresses():
    cards = {"+15550000001": None, "+15550000002": ANN, "+15550000003": BOB}
    assert group_friendly_name(["+15550000001", "+15550000002", "+15550000003"], cards) == "Ann, Bob, +15550000001"


def test_a_customer_on_two_addresses_is_named_once():
    assert group_friendly_name(["a", "b", "c"], {"a": ANN, "b": CustomerCard("ann", "Ann (work)"), "c": BOB}) == "Ann, Bob"


def test_more_than_three_names_end_with_how_many_more():
    members = ["a", "b", "c", "d", "e"]
    assert MAX_NAMES_IN_GROUP == 3
    assert group_friendly_name(members, {"a": ANN}) == "Ann, b, c, +2 more"
    assert group_friendly_name(members[:4], {"a": ANN}) == "Ann, b, c, +1 more"
    assert group_friendly_name(members[:3], {"a": ANN}) == "Ann, b, c"


def test_a_group_with_nobody_known_has_no_name():
    assert group_friendly_name(["a", "b"], {"a": None}) is None
    assert group_friendly_name(["a", "b"], {"a": CustomerCard("ann", "")}) is None
    assert group_friendly_name([], {}) is None


def test_a_customer_without_a_name_is_shown_by_address():
    assert group_friendly_name(["a", "b"], {"a": CustomerCard("x", ""), "b": BOB}) == "Bob, a"


def test_a_group_name_is_cut_to_twilios_limit():
    assert MAX_FRIENDLY_NAME == 256
    exactly = CustomerCard("ann", "A" * 256)
    assert group_friendly_name(["a"], {"a": exactly}) == "A" * 256
    longer = group_friendly_name(["a", "b"], {"a": CustomerCard("ann", "A" * 300)})
    assert longer == "A" * 255 + "…" and len(longer) == 256
