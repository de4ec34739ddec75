"""store.profiles: what a valid profile is, the clean copy that is stored, and the keys it claims."""

from __future__ import annotations

import hashlib
from datetime import datetime, timezone

import pytest

from store.addresses import MAX_DOCUMENT_ID_BYTES, is_document_id
from store.profiles import (
    MAX_FIELDS_BYTES,
    SORT_FIELD,
    BatchClaims,
    CustomerCard,
    InvalidProfile,
    card_of,
    check_storable,
    customer_id_of,
    derived_customer_id,
    derived_updates,
    index_keys,
    is_https_url,
    sort_name_of,
    storage_size,
    stored_index_keys,
    validate_profile,
    with_kept_opt_out,
)

GOOD = {
    "display_name": "Ada Lovelace",
    "avatar": "https://example.com/ada.png",
    "channels": [{"type": "sms", "value": "+15558675310"}, {"type": "email", "value": "ada@example.com"}],
}


def reason(profile, region: str = "US") -> tuple[str, str]:
    """The field and the one-line reason validate_profile gives for refusing `profile`: operators
    read the reason; logs carry the field alone, since the reason may quote a phone number."""
    with pytest.raises(InvalidProfile) as raised:
        validate_profile(profile, region)
    return raised.value.field, str(raised.value)


# --- the clean copy --------------------------------------------------------------------------


def test_a_good_profile_is_cleaned_and_keeps_every_field_of_the_user():
    links = [{"type": "crm", "value": "https://crm.example.com/ada", "display_name": "CRM"}]
    details = {"title": "Countess", "content": "Analyst"}
    profile = {
        "customer_id": "ada",  # the document id, not a field
        "display_name": "  Ada Lovelace ",
        SORT_FIELD: "stale value a console edit left",
        "avatar": "https://example.com/ada.png",
        "channels": [{"type": "sms", "value": " +15558675310 ", "note": "dropped"}, {"type": "email", "value": "ada@example.com"}],
        "links": links,
        "details": details,
        "tier": "gold",
        "worker": " joe ",
    }
    assert validate_profile(profile, "US") == {
        "display_name": "Ada Lovelace",
        SORT_FIELD: "ada lovelace",
        "avatar": "https://example.com/ada.png",
        "channels": [{"type": "sms", "value": "+15558675310"}, {"type": "email", "value": "ada@example.com"}],
        "links": links,
        "details": details,
        "tier": "gold",
        "worker": "joe",
    }


def test_the_sort_field_is_sort_name():
    # Firestore indexes and queries name it (firestore.indexes.json, store/customers.py).
    assert SORT_FIELD == "sort_name"


def test_cleaning_does_not_touch_its_input():
    profile = {**GOOD, "customer_id": "ada", "display_name": " Ada ", "worker": " joe "}
    before = {**profile, "channels": [dict(c) for c in profile["channels"]]}
    validate_profile(profile, "US")
    assert profile == before


@pytest.mark.parametrize("worker", [None, "", "   "])
def test_worker_is_always_present_and_empty_when_unassigned(worker):
    profile = {k: v for k, v in GOOD.items()}
    if worker is not None:
        profile["worker"] = worker
    assert validate_profile(profile, "US")["worker"] == ""


@pytest.mark.parametrize("avatar", [None, ""])
def test_an_empty_avatar_is_dropped(avatar):
    assert "avatar" not in validate_profile({**GOOD, "avatar": avatar}, "US")


def test_a_profile_without_an_avatar_is_accepted_without_one():
    profile = {k: v for k, v in GOOD.items() if k != "avatar"}
    assert "avatar" not in validate_profile(profile, "US")


def test_a_profile_without_channels_has_an_empty_list():
    assert validate_profile({"display_name": "Ada"}, "US")["channels"] == []
    assert validate_profile({"display_name": "Ada", "channels": None}, "US")["channels"] == []


def test_a_valid_https_link_is_accepted():
    links = [{"type": "crm", "value": "https://crm.example.com/ada"}]
    assert validate_profile({**GOOD, "links": links}, "US")["links"] == links


def test_national_sms_numbers_are_checked_in_the_default_region():
    channels = [{"type": "sms", "value": "07700 900123"}, {"type": "whatsapp", "value": "whatsapp:07700 900123"}]
    assert validate_profile({**GOOD, "channels": channels}, "GB")["channels"] == channels
    assert reason({**GOOD, "channels": channels[:1]}, "US") == ("channels", "sms channel value '07700 900123' is not a phone number")


def test_sort_name_is_trimmed_and_case_folded():
    assert sort_name_of("  Ada LOVELACE ") == "ada lovelace"
    assert sort_name_of("Straße") == "strasse"  # casefold, not lower: sorts and matches as people expect


# --- every reason, word for word ---------------------------------------------------------------


@pytest.mark.parametrize("display_name", [None, "", "   ", 42])
def test_display_name_is_required(display_name):
    profile = {k: v for k, v in GOOD.items() if k != "display_name"}
    if display_name is not None:
        profile["display_name"] = display_name
    assert reason(profile) == ("display_name", "display_name is required")


@pytest.mark.parametrize("avatar", ["http://example.com/ada.png", "/ada.png", "example.com/ada.png", "https://", 7])
def test_avatar_must_be_an_absolute_https_url(avatar):
    assert reason({**GOOD, "avatar": avatar}) == ("avatar", f"avatar {avatar!r} must be an absolute https URL")


def test_channels_must_be_a_list():
    assert reason({**GOOD, "channels": {"type": "sms", "value": "+15558675310"}}) == ("channels", "channels must be a list")


@pytest.mark.parametrize("channel", ["+15558675310", ["sms", "+15558675310"], None])
def test_a_channel_must_be_an_object(channel):
    assert reason({**GOOD, "channels": [channel]}) == ("channels", f"channel {channel!r} must be an object with type and value")


@pytest.mark.parametrize("kind", ["fax", "SMS", "", None])
def test_channel_type_must_be_known(kind):
    assert reason({**GOOD, "channels": [{"type": kind, "value": "+15558675310"}]}) == ("channels", f"channel type {kind!r} is not one of sms, whatsapp, chat, email")


@pytest.mark.parametrize("value", ["  ", "", None, 15558675310])
def test_a_channel_without_a_text_value_is_refused(value):
    assert reason({**GOOD, "channels": [{"type": "chat", "value": value}]}) == ("channels", "chat channel has no value")


def test_a_channel_with_no_value_key_is_refused():
    assert reason({**GOOD, "channels": [{"type": "email"}]}) == ("channels", "email channel has no value")


@pytest.mark.parametrize("kind", ["sms", "whatsapp"])
def test_phone_channels_need_a_phone_number(kind):
    assert reason({**GOOD, "channels": [{"type": kind, "value": "ada@example.com"}]}) == ("channels", f"{kind} channel value 'ada@example.com' is not a phone number")


def test_email_channel_needs_an_at_sign():
    assert reason({**GOOD, "channels": [{"type": "email", "value": "ada.example.com"}]}) == ("channels", "email channel value 'ada.example.com' is not an email address")


def test_a_channel_value_too_long_for_a_document_id_is_refused():
    value = "a" * (MAX_DOCUMENT_ID_BYTES + 1)
    assert reason({**GOOD, "channels": [{"type": "chat", "value": value}]}) == ("channels", f"chat channel value {value!r} cannot be an address")


@pytest.mark.parametrize("link", [
    {"type": "crm", "value": "http://crm.example.com/ada", "display_name": "CRM"},
    {"type": "crm"},
    "https://crm.example.com/ada",
    ["https://crm.example.com/ada"],
])
def test_links_must_be_objects_with_an_https_url(link):
    assert reason({**GOOD, "links": [link]}) == ("links", f"link {link!r} must have an absolute https URL as value")


@pytest.mark.parametrize("worker", [42, ["joe"], {"identity": "joe"}])
def test_worker_must_be_text(worker):
    assert reason({**GOOD, "worker": worker}) == ("worker", f"worker {worker!r} must be a worker identity")


@pytest.mark.parametrize("flag", [True, False])
def test_the_opt_out_fields_are_kept_when_they_have_their_types(flag):
    clean = validate_profile({**GOOD, "opted_out": flag, "opted_out_changed_at": "2026-11-26T12:00:00Z"}, "US")
    assert (clean["opted_out"], clean["opted_out_changed_at"]) == (flag, "2026-11-26T12:00:00Z")


@pytest.mark.parametrize("value", ["true", 1, 0, None])
def test_opted_out_must_be_true_or_false(value):
    assert reason({**GOOD, "opted_out": value}) == ("opted_out", f"opted_out {value!r} must be true or false")


@pytest.mark.parametrize("value", [20261126, None, True])
def test_the_opt_out_time_must_be_text(value):
    assert reason({**GOOD, "opted_out_changed_at": value}) == \
        ("opted_out_changed_at", f"opted_out_changed_at {value!r} must be a date and time (ISO 8601)")


def test_a_write_that_does_not_name_the_opt_out_keeps_the_stored_one():
    stored = {"display_name": "Ada", "opted_out": True, "opted_out_changed_at": "2026-11-26T12:00:00Z", "worker": "joe"}
    assert with_kept_opt_out({"display_name": "Ada L."}, stored) == {"display_name": "Ada L.", "opted_out": True, "opted_out_changed_at": "2026-11-26T12:00:00Z"}
    assert with_kept_opt_out({"display_name": "Ada", "opted_out": False}, stored) == \
        {"display_name": "Ada", "opted_out": False, "opted_out_changed_at": "2026-11-26T12:00:00Z"}
    assert with_kept_opt_out({"display_name": "Ada"}, {"display_name": "Ada", "opted_out": True}) == {"display_name": "Ada", "opted_out": True}
    assert with_kept_opt_out({"display_name": "Ada"}, None) == {"display_name": "Ada"}
    assert with_kept_opt_out({"display_name": "Ada"}, {}) == {"display_name": "Ada"}


def test_the_first_problem_is_the_one_named():
    assert reason({"display_name": "", "avatar": "http://x", "channels": "no"}) == ("display_name", "display_name is required")
    assert reason({"display_name": "Ada", "avatar": "http://x", "channels": "no"}) == ("avatar", "avatar 'http://x' must be an absolute https URL")


def test_a_refusal_is_a_422_with_its_reason_and_an_empty_field_unless_one_is_named():
    error = InvalidProfile("customer_id is missing and there is no channel to derive it from")
    assert (error.status, error.reason, error.field) == (422, str(error), "")
    assert InvalidProfile("channels must be a list", "channels").field == "channels"


# --- ids -----------------------------------------------------------------------------------------


def test_customer_ids_are_strings():
    assert customer_id_of(42) == "42"
    assert customer_id_of(" ada ") == "ada"


@pytest.mark.parametrize("bad", [None, "", "  ", "a/b", ".", "..", "__x__"])
def test_customer_ids_that_cannot_be_document_ids_are_refused(bad):
    with pytest.raises(InvalidProfile) as raised:
        customer_id_of(bad)
    assert (raised.value.field, str(raised.value)) == ("customer_id", f"customer_id {bad!r} cannot be a Firestore document id")


def test_document_ids_firestore_refuses_are_recognised():
    # Firestore reserves ids matching __.*__, so "__x" and "___" are ordinary ids.
    assert [is_document_id(v) for v in ("ada", "42", "a.b", "...", "__x", "x__", "__", "___", "x" * 1500, "é" * 750)] == [True] * 10
    assert [is_document_id(v) for v in ("", ".", "..", "____", "__x__", "a/b", "/", "x" * 1501, "é" * 751)] == [False] * 9


@pytest.mark.parametrize("value, ok", [
    ("https://example.com/a.png", True),
    ("https://example.com", True),
    ("http://example.com/a.png", False),
    ("https:///a.png", False),
    ("//example.com/a.png", False),
    ("", False),
    (None, False),
    (b"https://example.com", False),
])
def test_is_https_url(value, ok):
    assert is_https_url(value) is ok


def test_a_derived_id_is_a_hash_of_the_first_channels_key():
    expected = "addr-" + hashlib.sha256(b"+15558675310").hexdigest()[:20]
    assert derived_customer_id(GOOD, "US") == expected
    # every spelling of that address derives the same id
    assert derived_customer_id({"channels": [{"type": "whatsapp", "value": "whatsapp:(555) 867-5310"}]}, "US") == expected
    assert derived_customer_id({"channels": [{"type": "sms", "value": "07700 900123"}]}, "GB") == \
        "addr-" + hashlib.sha256(b"+447700900123").hexdigest()[:20]


@pytest.mark.parametrize("profile", [{}, {"channels": []}, {"channels": None}, {"channels": [{"type": "chat", "value": "a" * 1501}]}])
def test_no_derived_id_without_a_usable_channel(profile):
    with pytest.raises(InvalidProfile) as raised:
        derived_customer_id(profile, "US")
    assert str(raised.value) == "customer_id is missing and there is no channel to derive it from"


# --- index keys and cards -------------------------------------------------------------------------


def test_index_keys_are_the_distinct_keys_of_the_channels():
    profile = {"channels": [{"type": "sms", "value": "+15558675310"}, {"type": "whatsapp", "value": "whatsapp:(555) 867-5310"},
                            {"type": "email", "value": "Ada@Example.com"}, {"type": "chat", "value": "a" * 1501}]}
    assert index_keys(profile, "US") == {"+15558675310", "ada@example.com"}
    assert index_keys({"channels": [{"type": "sms", "value": "07700 900123"}]}, "GB") == {"+447700900123"}
    assert index_keys({}, "US") == set()


def test_stored_index_keys_skip_what_is_not_a_channel():
    profile = {"channels": ["+15550001111", None, {"type": "sms"}, {"value": 15550002222}, {"type": "sms", "value": "+15558675310"},
                            {"value": "Ada@Example.com"}, {"type": "chat", "value": ""}, {"type": "sms", "value": "07700 900123"}]}
    assert stored_index_keys(profile, "GB") == {"+15558675310", "ada@example.com", "+447700900123"}


@pytest.mark.parametrize("channels", [None, "+15558675310", {"type": "sms", "value": "+15558675310"}])
def test_stored_index_keys_of_a_profile_without_a_channel_list_are_none(channels):
    assert stored_index_keys({"channels": channels}, "US") == set()
    assert stored_index_keys({}, "US") == set()


def test_a_card_is_the_projection_stored_in_each_index_entry():
    card = card_of("ada", GOOD)
    assert card == CustomerCard("ada", "Ada Lovelace", "https://example.com/ada.png")
    assert card.as_index_document() == {"customer_id": "ada", "display_name": "Ada Lovelace", "avatar": "https://example.com/ada.png"}
    assert CustomerCard.from_index_document(card.as_index_document()) == card


def test_a_card_has_the_name_as_validate_profile_stores_it():
    assert card_of("ada", {"display_name": "  Ada Lovelace "}).display_name == "Ada Lovelace"


def test_derived_updates_fill_what_a_console_edit_forgot():
    clean = validate_profile({**GOOD, "worker": "joe"}, "US")
    assert derived_updates(clean, clean) == {}
    assert derived_updates({**clean, SORT_FIELD: "Ada Lovelace"}, clean) == {SORT_FIELD: "ada lovelace"}
    assert derived_updates({k: v for k, v in clean.items() if k not in (SORT_FIELD, "worker")}, clean) == {SORT_FIELD: "ada lovelace", "worker": "joe"}
    assert derived_updates({**clean, "worker": None}, clean) == {"worker": "joe"}


def test_derived_updates_never_rewrite_a_written_worker():
    clean = validate_profile({**GOOD, "worker": " joe "}, "US")
    assert derived_updates({**clean, "worker": " joe "}, clean) == {}
    assert derived_updates({**clean, "worker": ""}, clean) == {}


def test_a_card_of_a_sparse_profile_has_empty_name_and_no_avatar():
    assert card_of("ada", {}) == CustomerCard("ada", "", None)
    assert card_of("ada", {"display_name": None, "avatar": ""}) == CustomerCard("ada", "", None)
    assert CustomerCard("ada", "").as_index_document() == {"customer_id": "ada", "display_name": "", "avatar": None}


def test_a_card_read_from_a_sparse_index_entry():
    assert CustomerCard.from_index_document({"customer_id": 42}) == CustomerCard("42", "", None)
    assert CustomerCard.from_index_document({"customer_id": "ada", "display_name": None, "avatar": ""}) == CustomerCard("ada", "", None)
    with pytest.raises(KeyError):
        CustomerCard.from_index_document({"display_name": "Ada"})


# --- one batch -------------------------------------------------------------------------------------


def clean(*values: str) -> dict:
    return {"display_name": "x", "channels": [{"type": "sms", "value": v} for v in values]}


def test_a_batch_accepts_distinct_ids_and_addresses():
    claims = BatchClaims("US")
    claims.claim("line 2", "ada", clean("+15558675310"))
    claims.claim("line 3", "bob", clean("+15550001111"))


def test_a_batch_refuses_an_id_used_twice_naming_the_first_place():
    claims = BatchClaims("US")
    claims.claim("line 2", "ada", clean("+15558675310"))
    with pytest.raises(InvalidProfile) as raised:
        claims.claim("line 9", "ada", clean("+15550001111"))
    assert str(raised.value) == "customer_id 'ada' is also on line 2"


def test_a_batch_refuses_an_address_claimed_earlier_in_any_spelling():
    claims = BatchClaims("US")
    claims.claim("line 2", "ada", clean("+15558675310"))
    with pytest.raises(InvalidProfile) as raised:
        claims.claim("line 5", "bob", clean("+15550001111", "(555) 867-5310"))
    assert str(raised.value) == "address +15558675310 is also claimed by customer 'ada' on line 2"


def test_a_batch_names_the_first_conflicting_address_in_key_order():
    claims = BatchClaims("US")
    claims.claim("line 2", "ada", clean("+15558675310", "+15550001111"))
    with pytest.raises(InvalidProfile) as raised:
        claims.claim("line 3", "bob", clean("+15558675310", "+15550001111"))
    assert str(raised.value) == "address +15550001111 is also claimed by customer 'ada' on line 2"


def test_a_refused_claim_claims_nothing():
    claims = BatchClaims("US")
    claims.claim("line 2", "ada", clean("+15558675310"))
    with pytest.raises(InvalidProfile):
        claims.claim("line 3", "bob", clean("+15550001111", "+15558675310"))
    claims.claim("line 4", "bob", clean("+15550001111"))  # neither bob nor his other address was taken


def test_a_batch_reads_national_numbers_in_its_region():
    claims = BatchClaims("GB")
    claims.claim("line 2", "ada", clean("07700 900123"))
    with pytest.raises(InvalidProfile, match=r"address \+447700900123 is also claimed by customer 'ada' on line 2"):
        claims.claim("line 3", "bob", clean("+447700900123"))


# --- what Firestore refuses (its documented limits and storage sizes) ------------------------------
# cloud.google.com/firestore/quotas and /docs/storage-size: a string is its UTF-8 bytes + 1 (names
# too), null and booleans 1, numbers and timestamps 8, bytes their length, a geopoint 16, a
# reference its document name (each id + 1, plus 16), a map its names and values, an array its values.


def text(value: str) -> int:
    return len(value.encode("utf-8")) + 1


def refusal_of(fields) -> tuple[str, str]:
    with pytest.raises(InvalidProfile) as raised:
        storage_size(fields)
    return raised.value.field, str(raised.value)


@pytest.mark.parametrize("value, size", [
    (None, 1),
    (True, 1),
    (False, 1),
    (0, 8),
    (-(2**63), 8),
    (2**63 - 1, 8),
    (1.5, 8),
    (datetime(2026, 1, 1, tzinfo=timezone.utc), 8),
    ("", 1),
    ("héllo", 7),
    (b"\x00\x01\x02", 3),
    (bytearray(b"ab"), 2),
    (["ab", 1, None], 3 + 8 + 1),
    (("ab", 1), 3 + 8),
    ({"x": "y", "z": 1}, text("x") + text("y") + text("z") + 8),
    ({"m": {"n": [True, {"o": None}]}}, text("m") + text("n") + 1 + text("o") + 1),
])
def test_storage_size_of_each_kind_of_value(value, size):
    assert storage_size({"field": value}) == text("field") + size


def test_storage_size_of_firestores_own_types():
    from google.cloud.firestore_v1._helpers import GeoPoint
    from google.cloud.firestore_v1.document import DocumentReference
    from google.cloud.firestore_v1.vector import Vector

    assert storage_size({"at": GeoPoint(51.5, -0.12)}) == text("at") + 16
    reference = DocumentReference("users", "jeff", "tasks", "my_task_id", client=None)
    assert storage_size({"ref": reference}) == text("ref") + 44  # the storage-size page's own example
    assert storage_size({"ref": DocumentReference("customers", "ada", client=None)}) == text("ref") + text("customers") + text("ada") + 16
    assert storage_size({"v": Vector([1.0, 2.0, 3.0])}) == text("v") + 8 * 3 + 16  # as counted here: 8 a dimension, 16 more


def test_the_size_of_a_profile_is_the_sum_of_its_fields():
    assert storage_size({"display_name": "Ada", "worker": "", "n": 7}) == text("display_name") + text("Ada") + text("worker") + 1 + text("n") + 8
    assert storage_size({}) == 0


@pytest.mark.parametrize("value", [2**63, -(2**63) - 1])
def test_an_integer_outside_64_bits_is_refused(value):
    assert refusal_of({"details": {"n": value}}) == ("details", f"field details.n: {value} does not fit in a 64-bit integer")


@pytest.mark.parametrize("value, kind", [({1, 2}, "set"), (object(), "object"), (1j, "complex")])
def test_a_value_firestore_has_no_type_for_is_refused(value, kind):
    assert refusal_of({"tier": value}) == ("tier", f"field tier: a {kind} cannot be stored in Firestore")


@pytest.mark.parametrize("value", [[[1]], [1, (2,)], ([],)])
def test_an_array_directly_inside_an_array_is_refused(value):
    assert refusal_of({"links": value}) == ("links", "field links: an array directly inside an array cannot be stored in Firestore")


def test_an_array_inside_a_map_inside_an_array_is_fine():
    assert storage_size({"l": [{"a": [1]}]}) == text("l") + text("a") + 8


def nested(levels: int) -> object:
    """`levels` maps and arrays, one inside the other, alternating."""
    value: object = "x"
    for level in range(levels):
        value = {"m": value} if level % 2 else [value]
    return value


def test_twenty_levels_of_maps_and_arrays_are_the_limit():
    assert storage_size({"details": nested(20)}) > 0
    field, message = refusal_of({"details": nested(21)})
    assert field == "details"
    assert message.startswith("field details") and message.endswith(": nested deeper than 20 maps and arrays (Firestore's limit)")


def test_the_depth_counts_from_the_top_level_field():
    # one level is spent by the map `details` itself: 20 more below it are one too many
    assert refusal_of({"details": {"m": nested(20)}})[0] == "details"
    assert storage_size({"details": {"m": nested(19)}}) > 0


def test_twenty_thousand_fields_are_the_limit_at_any_depth():
    assert storage_size({f"f{i}": None for i in range(20_000)}) > 0
    assert storage_size({"details": {f"f{i}": None for i in range(19_999)}}) > 0
    assert refusal_of({"details": {f"f{i}": None for i in range(20_000)}}) == ("profile", "more than 20000 fields (Firestore's limit per document)")


def test_a_field_path_of_1500_bytes_is_the_limit():
    assert storage_size({"a" * 1500: 1}) > 0
    assert storage_size({"details": {"b" * 1490: 1}}) > 0  # "details." + 1490 = 1498
    path = "details." + "b" * 1493
    assert refusal_of({"details": {"b" * 1493: 1}}) == ("details", f"field {path[:40]!r}…: its path is over 1500 bytes")
    assert refusal_of({"é" * 751: 1})[0] == "é" * 751


@pytest.mark.parametrize("name", ["__x__", "____", "__name__"])
def test_reserved_field_names_are_refused(name):
    assert refusal_of({name: 1}) == (name, f"field {name!r}: names of the form __x__ are reserved by Firestore")
    assert refusal_of({"details": {name: 1}}) == ("details", f"field details.{name!r}: names of the form __x__ are reserved by Firestore")


@pytest.mark.parametrize("name", ["__", "___", "__x", "x__", "_x_"])
def test_names_that_only_look_reserved_are_fine(name):
    assert storage_size({name: 1}) == text(name) + 8


def test_a_field_name_must_be_non_empty_text():
    assert refusal_of({"": 1}) == ("profile", "field '': a field name must be non-empty text")
    assert refusal_of({5: 1}) == ("5", "field 5: a field name must be non-empty text")
    assert refusal_of({"details": {"": 1}}) == ("details", "field details.'': a field name must be non-empty text")
    assert refusal_of({"details": {"title": {None: 1}}}) == ("details", "field details.title.None: a field name must be non-empty text")


def test_text_that_is_not_unicode_is_refused_without_quoting_it():
    assert refusal_of({"display_name": "Ada \ud800"}) == ("display_name", "field display_name is not valid Unicode text (an unpaired surrogate)")
    assert refusal_of({"links": ["ok", "\udfff"]}) == ("links", "field links[1] is not valid Unicode text (an unpaired surrogate)")
    assert refusal_of({"details": {"title": "\ud800"}}) == ("details", "field details.title is not valid Unicode text (an unpaired surrogate)")


def test_a_field_name_that_is_not_unicode_is_quoted_cut_to_forty_characters():
    name = "\ud800" + "n" * 50
    assert refusal_of({name: 1}) == ("profile", f"field name {name[:40]!r} is not valid Unicode text (an unpaired surrogate)")
    assert refusal_of({"details": {name: 1}})[0] == "details"


def test_the_first_refused_field_is_the_one_named():
    assert refusal_of({"a": {1, 2}, "b": 2**64})[0] == "a"


def test_the_largest_storable_profile():
    assert MAX_FIELDS_BYTES == 1_048_576 - 32 - (16 + 2 * (1500 + 1))  # a document less its name at its longest
    fits = {"display_name": "x" * (MAX_FIELDS_BYTES - text("display_name") - 1)}
    assert storage_size(fits) == MAX_FIELDS_BYTES
    check_storable(fits)
    too_big = {"display_name": fits["display_name"] + "x"}
    with pytest.raises(InvalidProfile) as raised:
        check_storable(too_big)
    assert (raised.value.field, str(raised.value)) == (
        "profile", f"the profile takes {MAX_FIELDS_BYTES + 1:,} bytes in Firestore (with sort_name); a document holds at most {MAX_FIELDS_BYTES:,}")


def test_validate_profile_counts_the_sort_name_it_adds():
    name = "x" * 600_000  # under the limit alone, over it once sort_name repeats it
    assert storage_size({"display_name": name}) < MAX_FIELDS_BYTES
    assert reason({"display_name": name})[0] == "profile"


def test_validate_profile_refuses_what_firestore_would():
    assert reason({**GOOD, "details": {"n": 2**64}}) == ("details", f"field details.n: {2**64} does not fit in a 64-bit integer")
