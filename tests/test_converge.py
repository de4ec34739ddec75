"""CustomerStore.converge, the trigger's store call, on the real emulator without any event:
whatever state a writer left, one call brings the index and derived fields in line, a second
writes nothing, and `check` (store.audit) then agrees."""

from __future__ import annotations

import pytest

from store.audit import audit

N1, N2, N3 = "+15550107001", "+15550107002", "+15550107003"


def sms(*numbers: str) -> list[dict]:
    return [{"type": "sms", "value": number} for number in numbers]


def entry(db, key):
    snapshot = db.collection("customer_addresses").document(key).get()
    return snapshot.to_dict() if snapshot.exists else None


def owned_by(db, customer_id: str) -> set[str]:
    from google.cloud.firestore_v1.base_query import FieldFilter

    return {s.id for s in db.collection("customer_addresses").where(filter=FieldFilter("customer_id", "==", customer_id)).stream()}


def problems(store) -> list[str]:
    found = audit(dict(store.profiles()), dict(store.index_entries()), "US")
    return [f"{problem.kind}: {problem.subject}" for problem in found.problems]


def write(db, customer_id: str, profile: dict) -> None:
    """A profile as another writer leaves it: no index entry, no sort_name, no worker."""
    db.collection("customers").document(customer_id).set(profile)


def test_a_plain_profile_gets_its_entries_and_derived_fields_and_a_second_pass_writes_nothing(db, store):
    write(db, "ada", {"display_name": "  Ada Lovelace ", "channels": sms(N1, "(555) 010-7002")})
    done = store.converge("ada")
    assert (sorted(done.indexed), done.removed, done.derived) == ([N1, N2], (), ("sort_name", "worker"))
    assert entry(db, N2) == {"customer_id": "ada", "display_name": "Ada Lovelace", "avatar": None}
    stored = store.get("ada")
    assert (stored["sort_name"], stored["worker"], stored["display_name"]) == ("ada lovelace", "", "  Ada Lovelace ")
    times = {s.id: s.update_time for s in db.collection("customer_addresses").stream()}
    profile_time = db.collection("customers").document("ada").get().update_time
    again = store.converge("ada")
    assert again.writes == 0
    assert {s.id: s.update_time for s in db.collection("customer_addresses").stream()} == times
    assert db.collection("customers").document("ada").get().update_time == profile_time
    assert problems(store) == []


def test_a_worker_the_user_wrote_is_kept_and_only_a_missing_one_is_filled(db, store):
    write(db, "ada", {"display_name": "Ada", "worker": "alice@example.com", "channels": sms(N1)})
    assert store.converge("ada").derived == ("sort_name",)
    assert store.get("ada")["worker"] == "alice@example.com"


def test_a_changed_number_moves_the_entry_without_trusting_any_earlier_version(db, store):
    store.upsert("ada", {"display_name": "Ada", "channels": sms(N1)})
    db.collection("customers").document("ada").update({"channels": sms(N2)})
    done = store.converge("ada")
    assert (done.indexed, done.removed) == ((N2,), (N1,))
    assert owned_by(db, "ada") == {N2}


def test_a_deleted_profile_loses_every_entry_pointing_at_it_even_unlisted_ones(db, store):
    store.upsert("ada", {"display_name": "Ada", "channels": sms(N1)})
    # An entry the profile never listed (a console edit long ago): found by owner, not by channels.
    db.collection("customer_addresses").document(N3).set({"customer_id": "ada", "display_name": "Ada", "avatar": None})
    db.collection("customers").document("ada").delete()
    done = store.converge("ada")
    assert (done.exists, sorted(done.removed)) == (False, [N1, N3])
    assert owned_by(db, "ada") == set()
    assert store.converge("ada").writes == 0


def test_an_address_another_profile_still_lists_is_not_taken_over(db, store):
    store.upsert("bea", {"display_name": "Bea", "channels": sms(N1)})
    write(db, "al", {"display_name": "Al", "channels": sms(N1, N2)})
    done = store.converge("al")
    assert [(c.address, c.owner_id, c.claimant_id) for c in done.conflicts] == [(N1, "bea", "al")]
    assert entry(db, N1)["customer_id"] == "bea" and entry(db, N2)["customer_id"] == "al"
    assert problems(store) == [f"double_claim: {N1}"]


@pytest.mark.parametrize("first", ["al", "bea"])
def test_a_number_moved_between_two_profiles_ends_with_the_new_owner_whatever_the_order(db, store, first):
    store.upsert("bea", {"display_name": "Bea", "channels": sms(N1, N2)})
    batch = db.batch()  # one sync moves N1 from Bea to Al
    batch.set(db.collection("customers").document("bea"), {"display_name": "Bea", "channels": sms(N2)})
    batch.set(db.collection("customers").document("al"), {"display_name": "Al", "channels": sms(N1)})
    batch.commit()
    for customer_id in [first, "bea" if first == "al" else "al"]:
        store.converge(customer_id)
    assert entry(db, N1)["customer_id"] == "al" and entry(db, N2)["customer_id"] == "bea"
    assert problems(store) == []


def test_the_data_tool_takes_over_an_entry_whose_owner_no_longer_lists_the_address(db, store):
    store.upsert("bea", {"display_name": "Bea", "channels": sms(N1)})
    db.collection("customers").document("bea").update({"channels": []})  # a console edit, before any trigger
    store.upsert("al", {"display_name": "Al", "channels": sms(N1)})
    assert entry(db, N1)["customer_id"] == "al"


@pytest.mark.parametrize(("profile", "field"), [
    ({"channels": sms(N1)}, "display_name"),
    ({"display_name": "Bad", "channels": [{"type": "sms", "value": "+1 555 CALL NOW"}, *sms(N1)]}, "channels"),
    ({"display_name": "Bad", "avatar": "http://example.com/a.png", "channels": sms(N1)}, "avatar"),
])
def test_an_invalid_profile_is_indexed_as_it_stands_and_its_derived_fields_left_alone(db, store, profile, field):
    write(db, "odd", profile)
    done = store.converge("odd")
    assert done.invalid is not None and done.invalid.field == field
    assert entry(db, N1) == {"customer_id": "odd", "display_name": profile.get("display_name", ""), "avatar": profile.get("avatar")}
    assert done.derived == () and "sort_name" not in store.get("odd")
    # What check --fix would do for this profile is what converge did: only the invalid profile is left.
    assert [p for p in problems(store) if not p.startswith(("invalid", "no_name"))] == []
    assert store.converge("odd").writes == 0


def test_an_entry_naming_no_valid_customer_id_is_taken_over(db, store):
    db.collection("customer_addresses").document(N1).set({"customer_id": "a/b", "display_name": "?"})
    write(db, "ada", {"display_name": "Ada", "channels": sms(N1)})
    assert store.converge("ada").indexed == (N1,)
    assert entry(db, N1)["customer_id"] == "ada"


def test_a_number_moved_within_one_upsert_many_is_still_refused(db, store):
    from store.customers import AddressConflicts

    store.upsert("bea", {"display_name": "Bea", "channels": sms(N1)})
    with pytest.raises(AddressConflicts):
        store.upsert_many([("bea", {"display_name": "Bea", "channels": []}), ("al", {"display_name": "Al", "channels": sms(N1)})])
    assert entry(db, N1)["customer_id"] == "bea" and store.get("al") is None
