"""The store's single-profile writes keep the address index right even after console edits."""

from __future__ import annotations

import pytest

from store.customers import AddressConflict

ONE, TWO = "+15550109001", "+15550109002"


def entry(db, key):
    snapshot = db.collection("customer_addresses").document(key).get()
    return snapshot.to_dict() if snapshot.exists else None


def test_a_stale_stored_profile_cannot_take_an_address_another_customer_owns(db, store):
    store.upsert("bea", {"display_name": "Bea", "channels": [{"type": "sms", "value": ONE}]})
    # A console edit gives Al the same number without touching the index.
    db.collection("customers").document("al").set({"display_name": "Al", "channels": [{"type": "sms", "value": ONE}]})
    with pytest.raises(AddressConflict) as raised:
        store.upsert("al", {"display_name": "Al", "channels": [{"type": "sms", "value": ONE}]})
    assert (raised.value.owner_id, raised.value.claimant_id) == ("bea", "al")
    assert entry(db, ONE)["customer_id"] == "bea"
    # Dropping the number from Al must not delete Bea's entry either.
    store.upsert("al", {"display_name": "Al", "channels": []})
    assert entry(db, ONE)["customer_id"] == "bea"


def test_delete_removes_entries_the_stored_profile_no_longer_lists(db, store):
    store.upsert("cy", {"display_name": "Cy", "channels": [{"type": "sms", "value": ONE}, {"type": "sms", "value": TWO}]})
    db.collection("customers").document("cy").update({"channels": [{"type": "sms", "value": ONE}]})  # console edit
    assert store.delete("cy") is True
    assert entry(db, ONE) is None and entry(db, TWO) is None
    assert store.find_by_address(TWO) is None


def test_delete_leaves_other_customers_entries_alone(db, store):
    store.upsert("cy", {"display_name": "Cy", "channels": [{"type": "sms", "value": ONE}]})
    store.upsert("di", {"display_name": "Di", "channels": [{"type": "sms", "value": TWO}]})
    store.delete("cy")
    assert entry(db, TWO)["customer_id"] == "di"


@pytest.mark.parametrize("broken_channels", ["+15550109001", [{"type": "sms"}], [42]])
def test_a_malformed_stored_profile_can_still_be_overwritten_and_deleted(db, store, broken_channels):
    db.collection("customers").document("ed").set({"display_name": "Ed", "channels": broken_channels})
    store.upsert("ed", {"display_name": "Ed", "channels": [{"type": "sms", "value": ONE}]})
    assert store.find_by_address(ONE).customer_id == "ed"
    db.collection("customers").document("ed").set({"display_name": "Ed", "channels": broken_channels})
    assert store.delete("ed") is True
    assert store.find_by_address(ONE) is None
