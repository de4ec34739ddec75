"""store.audit: every way the address index can disagree with `customers`, and the repair it implies."""

from __future__ import annotations

from store.audit import FIXABLE, Audit, Problem, audit
from store.customers import IndexRepair
from store.profiles import validate_profile


def stored(display_name: str, *numbers: str, avatar: str | None = None, **extra) -> dict:
    """A profile as the store writes it (clean, with sort_name and worker)."""
    profile = {"display_name": display_name, "channels": [{"type": "sms", "value": n} for n in numbers], **extra}
    if avatar:
        profile["avatar"] = avatar
    return validate_profile(profile, "US")


def entry(customer_id: str, display_name: str, avatar: str | None = None) -> dict:
    return {"customer_id": customer_id, "display_name": display_name, "avatar": avatar}


ADA = stored("Ada Lovelace", "+15558675310", "+15558675311", avatar="https://example.com/ada.png")
ADA_ENTRY = entry("ada", "Ada Lovelace", "https://example.com/ada.png")
BOB = stored("Bob", "+15550001111")


def test_an_index_that_agrees_has_no_problem_and_no_repair():
    found = audit({"ada": ADA, "bob": BOB}, {"+15558675310": ADA_ENTRY, "+15558675311": ADA_ENTRY, "+15550001111": entry("bob", "Bob")}, "US")
    assert found.problems == [] and found.unfixable == []
    assert found.repair == IndexRepair() and found.repair.writes == 0


def test_nothing_at_all_is_no_problem():
    assert audit({}, {}, "US") == Audit()


def test_a_missing_entry_is_written_from_the_profile():
    found = audit({"ada": ADA}, {"+15558675310": ADA_ENTRY}, "US")
    assert found.problems == [Problem("missing", "+15558675311", "address +15558675311: no index entry for customer 'ada'")]
    assert found.repair == IndexRepair(index_sets={"+15558675311": ADA_ENTRY})


def test_a_stale_entry_names_the_fields_that_differ_and_is_rewritten():
    entries = {"+15558675310": entry("ada", "Ada", None), "+15558675311": {**ADA_ENTRY, "extra": 1}}
    found = audit({"ada": ADA}, entries, "US")
    assert found.problems == [
        Problem("stale", "+15558675310", "address +15558675310: index entry differs from customer 'ada' in avatar, display_name"),
        Problem("stale", "+15558675311", "address +15558675311: index entry differs from customer 'ada' in extra"),
    ]
    assert found.repair == IndexRepair(index_sets={"+15558675310": ADA_ENTRY, "+15558675311": ADA_ENTRY})


def test_an_entry_pointing_to_another_customer_is_stale():
    found = audit({"bob": BOB}, {"+15550001111": entry("ada", "Bob")}, "US")
    assert found.problems == [Problem("stale", "+15550001111", "address +15550001111: index entry differs from customer 'bob' in customer_id")]
    assert found.repair.index_sets == {"+15550001111": entry("bob", "Bob")}


def test_orphaned_entries_say_why_and_are_deleted():
    entries = {"+15558675310": ADA_ENTRY, "+15558675311": ADA_ENTRY, "+15550009999": entry("ada", "Ada Lovelace"), "+15550001111": entry("gone", "Gone")}
    found = audit({"ada": ADA}, entries, "US")
    assert found.problems == [
        Problem("orphaned", "+15550001111", "address +15550001111: index entry for customer 'gone', who no longer exists"),
        Problem("orphaned", "+15550009999", "address +15550009999: index entry for customer 'ada', who has no such channel"),
    ]
    assert found.repair == IndexRepair(index_deletes=["+15550001111", "+15550009999"])


def test_an_entry_without_a_customer_id_is_orphaned():
    found = audit({}, {"+15550001111": {"display_name": "x"}}, "US")
    assert found.problems == [Problem("orphaned", "+15550001111", "address +15550001111: index entry for customer 'None', who no longer exists")]


def test_an_address_two_profiles_claim_is_left_for_a_person():
    customers = {"bob": BOB, "ada": stored("Ada", "+15550001111"), "cy": stored("Cy", "(555) 000-1111")}
    found = audit(customers, {"+15550001111": entry("bob", "Bob")}, "US")
    assert found.problems == [Problem("double_claim", "+15550001111",
                                      "address +15550001111 is claimed by customers 'ada', 'bob', 'cy' (the index points to 'bob'); "
                                      "remove it from all but one profile")]
    assert found.unfixable == found.problems
    assert found.repair == IndexRepair()


def test_a_double_claim_without_an_entry_says_the_index_points_nowhere():
    found = audit({"ada": stored("Ada", "+15550001111"), "bob": BOB}, {}, "US")
    assert [p.message for p in found.problems] == [
        "address +15550001111 is claimed by customers 'ada', 'bob' (the index points to None); remove it from all but one profile"]
    assert found.repair.writes == 0


def test_a_double_claim_does_not_stop_the_check_of_the_addresses_after_it():
    customers = {"ada": stored("Ada", "+15550001111", "+15558675310"), "bob": BOB}
    found = audit(customers, {}, "US")
    assert [(p.kind, p.subject) for p in found.problems] == [("double_claim", "+15550001111"), ("missing", "+15558675310")]
    assert found.repair == IndexRepair(index_sets={"+15558675310": entry("ada", "Ada")})


def test_an_invalid_profile_is_reported_but_its_addresses_still_count_as_claimed():
    broken = {**ADA, "avatar": "http://example.com/ada.png"}
    found = audit({"ada": broken}, {"+15558675310": entry("ada", "Ada Lovelace", "http://example.com/ada.png"),
                                    "+15558675311": entry("ada", "Ada Lovelace", "http://example.com/ada.png")}, "US")
    assert found.problems == [Problem("invalid", "ada", "customer 'ada': avatar 'http://example.com/ada.png' must be an absolute https URL; "
                                                        "correct the profile and import it again")]
    assert found.unfixable == found.problems
    assert found.repair.writes == 0


def test_a_profile_without_a_name_is_its_own_kind():
    for display_name in (None, "", "  ", 42):
        profile = {**BOB, "display_name": display_name}
        found = audit({"bob": profile}, {"+15550001111": entry("bob", "Bob")}, "US")
        # its index entry is still compared with the card (stale: the name differs)
        assert [p.kind for p in found.problems] == ["no_name", "stale"]
        assert found.problems[:1] == [Problem("no_name", "bob", "customer 'bob': display_name is required; correct the profile and import it again")]


def test_a_profile_that_validates_but_lacks_derived_fields_is_updated():
    console_edit = {k: v for k, v in BOB.items() if k not in ("sort_name", "worker")}
    found = audit({"bob": console_edit}, {"+15550001111": entry("bob", "Bob")}, "US")
    assert found.problems == [Problem("derived_fields", "bob", "customer 'bob': sort_name, worker missing or out of date")]
    assert found.repair == IndexRepair(profile_updates={"bob": {"sort_name": "bob", "worker": ""}})


def test_a_renamed_profile_gets_a_new_sort_name_and_keeps_its_worker():
    renamed = {**BOB, "display_name": "Robert", "worker": " joe "}
    found = audit({"bob": renamed}, {"+15550001111": entry("bob", "Bob")}, "US")
    assert found.problems == [
        Problem("derived_fields", "bob", "customer 'bob': sort_name missing or out of date"),
        Problem("stale", "+15550001111", "address +15550001111: index entry differs from customer 'bob' in display_name"),
    ]
    assert found.repair == IndexRepair(index_sets={"+15550001111": entry("bob", "Robert")}, profile_updates={"bob": {"sort_name": "robert"}})


def test_a_missing_worker_alone_is_written_as_unassigned():
    found = audit({"bob": {k: v for k, v in BOB.items() if k != "worker"}}, {"+15550001111": entry("bob", "Bob")}, "US")
    assert found.problems == [Problem("derived_fields", "bob", "customer 'bob': worker missing or out of date")]
    assert found.repair.profile_updates == {"bob": {"worker": ""}}


def test_a_null_worker_is_written_as_unassigned_and_a_written_one_is_left_alone():
    found = audit({"bob": {**BOB, "worker": None}, "cy": {**stored("Cy", "+15550002222"), "worker": " joe "}},
                  {"+15550001111": entry("bob", "Bob"), "+15550002222": entry("cy", "Cy")}, "US")
    assert found.problems == [Problem("derived_fields", "bob", "customer 'bob': worker missing or out of date")]
    assert found.repair.profile_updates == {"bob": {"worker": ""}}


def test_an_entry_carries_the_name_trimmed_as_the_store_writes_it():
    found = audit({"bob": {**BOB, "display_name": "  Bob "}}, {"+15550001111": entry("bob", "Bob")}, "US")
    assert found.problems == []


def test_national_numbers_are_read_in_the_default_region():
    ada = validate_profile({"display_name": "Ada", "channels": [{"type": "sms", "value": "07700 900123"}]}, "GB")
    assert audit({"ada": ada}, {"+447700900123": entry("ada", "Ada")}, "GB").problems == []


def test_problems_come_in_a_stable_order_and_fixable_ones_are_marked():
    customers = {"cy": {"display_name": ""}, "bob": {k: v for k, v in BOB.items() if k != "worker"}, "ada": ADA}
    entries = {"+15558675311": entry("ada", "Ada"), "+15550009999": entry("zed", "Zed")}
    found = audit(customers, entries, "US")
    assert [(p.kind, p.subject) for p in found.problems] == [
        ("derived_fields", "bob"), ("no_name", "cy"),
        ("missing", "+15550001111"), ("missing", "+15558675310"), ("stale", "+15558675311"),
        ("orphaned", "+15550009999"),
    ]
    assert [p.fixable for p in found.problems] == [True, False, True, True, True, True]
    assert found.unfixable == [found.problems[1]]
    assert found.repair.writes == 5


def test_what_may_be_fixed_without_a_person():
    assert FIXABLE == {"missing", "stale", "orphaned", "derived_fields"}
    assert [Problem(kind, "x", "m").fixable for kind in ("double_claim", "no_name", "invalid")] == [False] * 3
