"""Group MMS conversations are named after the people in them: the pure rule, the parallel
lookups in the store, and onConversationAdd end to end on the real emulator."""

from __future__ import annotations

import pytest

from handlers.conversation_shapes import GroupAddress, customer_address, group_friendly_name, group_members
from runtime.deadline import Deadline
from store.profiles import CustomerCard
from tests.conftest import ADA, ADA_ADDRESS, json_logs, signed_post
from tests.test_conversation_add import BlackHole
from tools import webhook_forms

GRACE_ADDRESS = "+15550100001"
GRACE = {"display_name": "Grace Hopper", "channels": [{"type": "sms", "value": GRACE_ADDRESS}]}
STRANGERS = [f"+1555020{n:04d}" for n in range(6)]
ADA_CARD = CustomerCard("ada", "Ada Lovelace")
GRACE_CARD = CustomerCard("grace", "Grace Hopper")


# --- the naming rule --------------------------------------------------------------------------


def test_known_names_come_first_then_addresses_as_they_are():
    members = [STRANGERS[0], ADA_ADDRESS]
    assert group_friendly_name(members, {ADA_ADDRESS: ADA_CARD, STRANGERS[0]: None}) == f"Ada Lovelace, {STRANGERS[0]}"


def test_three_people_are_all_named():
    members = [STRANGERS[0], GRACE_ADDRESS, ADA_ADDRESS]
    cards = {ADA_ADDRESS: ADA_CARD, GRACE_ADDRESS: GRACE_CARD, STRANGERS[0]: None}
    assert group_friendly_name(members, cards) == f"Grace Hopper, Ada Lovelace, {STRANGERS[0]}"


def test_more_than_three_people_end_with_how_many_more():
    members = [ADA_ADDRESS, *STRANGERS, GRACE_ADDRESS]
    cards = {ADA_ADDRESS: ADA_CARD, GRACE_ADDRESS: GRACE_CARD}
    assert group_friendly_name(members, cards) == f"Ada Lovelace, Grace Hopper, {STRANGERS[0]}, +5 more"


def test_an_address_whose_lookup_failed_is_shown_as_it_is():
    # find_customers leaves a failed address out of `cards`: the rule sees it as unknown.
    members = [ADA_ADDRESS, GRACE_ADDRESS, STRANGERS[0]]
    assert group_friendly_name(members, {ADA_ADDRESS: ADA_CARD, STRANGERS[0]: None}) == f"Ada Lovelace, {GRACE_ADDRESS}, {STRANGERS[0]}"


def test_a_customer_with_two_addresses_in_the_group_is_named_once():
    members = [ADA_ADDRESS, "whatsapp:" + ADA_ADDRESS, STRANGERS[0]]
    assert group_friendly_name(members, {ADA_ADDRESS: ADA_CARD, "whatsapp:" + ADA_ADDRESS: ADA_CARD}) == f"Ada Lovelace, {STRANGERS[0]}"


def test_nobody_known_gives_no_name():
    assert group_friendly_name(STRANGERS[:3], {address: None for address in STRANGERS[:3]}) is None
    assert group_friendly_name([ADA_ADDRESS], {ADA_ADDRESS: CustomerCard("ada", "")}) is None


def test_a_name_longer_than_twilio_allows_is_cut():
    long_card = CustomerCard("x", "X" * 300)
    name = group_friendly_name([ADA_ADDRESS], {ADA_ADDRESS: long_card})
    assert name is not None and len(name) == 256 and name.endswith("…")


@pytest.mark.parametrize("raw", [f"{ADA_ADDRESS},{GRACE_ADDRESS}", f'["{ADA_ADDRESS}", "{GRACE_ADDRESS}"]', f"[{ADA_ADDRESS}, {GRACE_ADDRESS}]",
                                 f" {ADA_ADDRESS} , ,{GRACE_ADDRESS},{ADA_ADDRESS}"])
def test_group_members_read_every_spelling_of_the_list(raw):
    assert group_members(GroupAddress(raw)) == [ADA_ADDRESS, GRACE_ADDRESS]


# --- the store: lookups side by side -----------------------------------------------------------


def test_find_customers_answers_each_address_once(store):
    from store.lookup import find_customers

    store.upsert("ada", ADA)
    store.upsert("grace", GRACE)
    found = find_customers([ADA_ADDRESS, STRANGERS[0], GRACE_ADDRESS, ADA_ADDRESS, "../x"], Deadline(2.5))
    assert found.failures == {}
    assert found.cards == {ADA_ADDRESS: CustomerCard("ada", "Ada Lovelace", ADA["avatar"]), STRANGERS[0]: None,
                           GRACE_ADDRESS: CustomerCard("grace", "Grace Hopper"), "../x": None}


def test_find_customers_with_firestore_hung_fails_every_address_by_the_deadline(emulator, settings_env):
    from store.lookup import find_customers

    hole = BlackHole()
    settings_env(FIRESTORE_EMULATOR_HOST=hole.host_port)
    try:
        found = find_customers([ADA_ADDRESS, GRACE_ADDRESS, STRANGERS[0]], Deadline(0.8))
    finally:
        hole.close()
    assert found.cards == {} and set(found.failures) == {ADA_ADDRESS, GRACE_ADDRESS, STRANGERS[0]}


# --- onConversationAdd end to end --------------------------------------------------------------


def group_conversation_add(client, addresses):
    return signed_post(client, webhook_forms.conversation_add(addresses, attributes='{"source": "group"}'))


@pytest.fixture()
def customers(store):
    store.upsert("ada", ADA)
    store.upsert("grace", GRACE)


def test_two_addresses_one_known(client, customers):
    response = group_conversation_add(client, [STRANGERS[0], ADA_ADDRESS])
    assert (response.status_code, response.get_json()) == (200, {"friendly_name": f"Ada Lovelace, {STRANGERS[0]}"})


def test_three_addresses_two_known(client, customers):
    response = group_conversation_add(client, [ADA_ADDRESS, STRANGERS[0], GRACE_ADDRESS])
    assert response.get_json() == {"friendly_name": f"Ada Lovelace, Grace Hopper, {STRANGERS[0]}"}


def test_eight_addresses_two_known(client, customers, capsys):
    response = group_conversation_add(client, [*STRANGERS, GRACE_ADDRESS, ADA_ADDRESS])
    assert response.get_json() == {"friendly_name": f"Grace Hopper, Ada Lovelace, {STRANGERS[0]}, +5 more"}
    named = [line for line in json_logs(capsys.readouterr().out) if line["message"] == "group conversation named from profiles"]
    assert [(line["members"], line["known"]) for line in named] == [(8, 2)]


def test_the_json_list_spelling_is_named_too(client, customers):
    form = webhook_forms.conversation_add(f'["{ADA_ADDRESS}", "{GRACE_ADDRESS}"]')
    assert signed_post(client, form).get_json() == {"friendly_name": "Ada Lovelace, Grace Hopper"}


def test_a_group_of_strangers_is_created_unchanged(client, customers):
    response = group_conversation_add(client, STRANGERS[:3])
    assert (response.status_code, response.get_json()) == (200, {})


def test_firestore_hung_during_a_group_answers_200_unchanged_with_an_error(client, customers, settings_env, capsys):
    hole = BlackHole()
    settings_env(FIRESTORE_EMULATOR_HOST=hole.host_port, WEBHOOK_DEADLINE_S="0.8")
    try:
        response = group_conversation_add(client, [ADA_ADDRESS, GRACE_ADDRESS, STRANGERS[0]])
    finally:
        hole.close()
    assert (response.status_code, response.get_json()) == (200, {})
    errors = [line["message"] for line in json_logs(capsys.readouterr().out) if line["severity"] == "ERROR"]
    assert len(errors) == 1 and errors[0].endswith("; 3 of 3 group addresses shown as they are")


def test_a_single_address_is_still_one_customer_not_a_group():
    from werkzeug.datastructures import MultiDict

    assert not isinstance(customer_address(MultiDict([("MessagingBinding.Address", ADA_ADDRESS)])), GroupAddress)


def test_one_lookup_failing_shows_that_address_and_names_the_rest(client, customers, db, capsys):
    # An index entry edited by hand into another shape (no customer_id) makes that one read fail.
    db.collection("customer_addresses").document(GRACE_ADDRESS).set({"display_name": "Grace Hopper"})
    response = group_conversation_add(client, [ADA_ADDRESS, GRACE_ADDRESS, STRANGERS[0]])
    assert (response.status_code, response.get_json()) == (200, {"friendly_name": f"Ada Lovelace, {GRACE_ADDRESS}, {STRANGERS[0]}"})
    errors = [line["message"] for line in json_logs(capsys.readouterr().out) if line["severity"] == "ERROR"]
    assert errors == ["customer lookup failed: an index entry without customer_id; 1 of 3 group addresses shown as they are"]
