"""The pure rules behind opt-out: keywords, who wrote a message, the refusal and the worker's note,
the CSV columns, and the store's rule that an import does not undo a STOP."""

from __future__ import annotations

import time
from dataclasses import dataclass

import pytest
from werkzeug.datastructures import MultiDict

from handlers.frontline_shapes import customer_details
from handlers.message_shapes import (
    CustomerParticipant,
    conversation_sid_of,
    customer_participants,
    is_customer_author,
    is_from_messaging_channel,
    opt_out_choice,
    opt_out_reason,
)
from runtime.cache import BoundedCache
from store.profiles import InvalidProfile, validate_profile, with_kept_opt_out
from tools.customer_files import cells_of, record_from_cells

OPT_OUT = ["STOP", "STOPALL", "UNSUBSCRIBE", "CANCEL", "END", "QUIT"]
OPT_IN = ["START", "YES", "UNSTOP"]


@pytest.mark.parametrize("keyword", OPT_OUT)
def test_each_opt_out_keyword_opts_out(keyword):
    assert opt_out_choice(keyword) is True


@pytest.mark.parametrize("keyword", OPT_IN)
def test_each_opt_in_keyword_opts_back_in(keyword):
    assert opt_out_choice(keyword) is False


@pytest.mark.parametrize("body", ["stop", "Stop", "sToP", "  STOP", "STOP  ", "\tstop\n", "\r\n Unsubscribe \r\n", "quit\u00a0"])
def test_case_and_surrounding_whitespace_do_not_matter(body):
    assert opt_out_choice(body) is True


@pytest.mark.parametrize("body", [" start ", "Yes", "\nunstop"])
def test_opt_in_ignores_case_and_whitespace_too(body):
    assert opt_out_choice(body) is False


@pytest.mark.parametrize("body", ["please stop", "STOP IT", "stop!", "don't stop", "S T O P", "STOP ALL", "yes please", "end of day",
                                  "", None, "   ", "STOPP", "restart"])
def test_anything_but_a_whole_keyword_is_an_ordinary_message(body):
    assert opt_out_choice(body) is None


@pytest.mark.parametrize(("source", "channel"), [("SMS", True), ("sms", True), ("WHATSAPP", True), ("Whatsapp", True),
                                                 ("SDK", False), ("sdk", False), ("API", False), ("", False), (None, False)])
def test_a_message_from_a_messaging_channel_is_the_customers(source, channel):
    form = MultiDict({"Source": source} if source is not None else {})
    assert is_from_messaging_channel(form) is channel


def test_only_a_conversation_sid_shaped_value_is_used():
    assert conversation_sid_of(MultiDict({"ConversationSid": " CH" + "a" * 32 + " "})) == "CH" + "a" * 32
    for bad in ["", "CH123", "MB" + "a" * 32, "CH" + "g" * 32, "../CH" + "a" * 32]:
        assert conversation_sid_of(MultiDict({"ConversationSid": bad})) is None


@dataclass
class FakeParticipant:
    sid: str
    identity: str | None
    address: str | None
    attributes: str = "{}"


def test_customers_are_participants_with_an_address_and_no_identity_with_their_customer_id():
    found = customer_participants([
        FakeParticipant("MB1", None, "+15558675310", '{"customer_id": "ada", "x": 1}'),
        FakeParticipant("MB2", "alice@example.com", None),
        FakeParticipant("MB3", None, "whatsapp:+15550001111", "not json"),
        FakeParticipant("MB4", " ", "+15550002222", '{"customer_id": 42}'),
        FakeParticipant("MB5", None, "+15550003333", '{"customer_id": "  "}'),
    ])
    assert found == [CustomerParticipant("MB1", "+15558675310", "ada"), CustomerParticipant("MB3", "whatsapp:+15550001111", None),
                     CustomerParticipant("MB4", "+15550002222", "42"), CustomerParticipant("MB5", "+15550003333", None)]


CUSTOMERS = [CustomerParticipant("MB1", "+15558675310", "ada")]


@pytest.mark.parametrize(("form", "is_customer"), [
    ({"ParticipantSid": "MB1", "Author": "someone"}, True),
    ({"Author": "+15558675310"}, True),
    ({"Author": "whatsapp:+15558675310"}, True),
    ({"Author": "(555) 867-5310"}, True),
    ({"Author": "alice@example.com", "ParticipantSid": "MB9"}, False),
    ({}, False),
])
def test_the_customer_is_recognised_by_participant_sid_or_address(form, is_customer):
    assert is_customer_author(MultiDict(form), CUSTOMERS, "US") is is_customer


def test_the_refusal_is_one_line_saying_when_and_how_to_undo_it():
    reason = opt_out_reason("2026-11-26T12:00:00Z")
    assert reason == "This customer opted out of messages on 2026-11-26 (they texted STOP). They must text START before you can message them."
    assert "\n" not in reason
    assert opt_out_reason(None).startswith("This customer opted out of messages (they texted STOP).")


def test_details_lead_with_the_opt_out_and_keep_the_notes():
    profile = {"display_name": "Ada", "details": {"title": "Notes", "content": "Prefers SMS."}, "opted_out": True,
               "opted_out_changed_at": "2026-11-26T12:00:00Z"}
    details = customer_details("ada", profile)["details"]
    assert details["title"] == "Notes"
    assert details["content"].startswith("Opted out of messages on 2026-11-26 (texted STOP)")
    assert details["content"].endswith("\n\nPrefers SMS.")


def test_details_of_a_customer_without_notes_get_a_title():
    details = customer_details("ada", {"display_name": "Ada", "opted_out": True})["details"]
    assert details["title"] == "Opted out" and details["content"].startswith("Opted out of messages (texted STOP)")


@pytest.mark.parametrize("flag", [False, None, "true"])
def test_details_are_untouched_unless_opted_out_is_true(flag):
    profile = {"display_name": "Ada", "details": {"title": "Notes", "content": "x"}, **({"opted_out": flag} if flag is not None else {})}
    assert customer_details("ada", profile)["details"] == {"title": "Notes", "content": "x"}


def test_a_write_without_the_opt_out_fields_keeps_the_stored_ones_and_a_write_naming_them_wins():
    stored = {"display_name": "Ada", "opted_out": True, "opted_out_changed_at": "2026-11-26T12:00:00Z"}
    assert with_kept_opt_out({"display_name": "Ada L."}, stored) == {"display_name": "Ada L.", **{k: stored[k] for k in ("opted_out", "opted_out_changed_at")}}
    assert with_kept_opt_out({"display_name": "Ada", "opted_out": False}, stored)["opted_out"] is False
    assert with_kept_opt_out({"display_name": "Ada"}, None) == {"display_name": "Ada"}


@pytest.mark.parametrize(("field", "value"), [("opted_out", "true"), ("opted_out", 1), ("opted_out_changed_at", 20261126)])
def test_the_store_refuses_opt_out_fields_of_the_wrong_type(field, value):
    with pytest.raises(InvalidProfile, match=field):
        validate_profile({"display_name": "Ada", field: value}, "US")


@pytest.mark.parametrize(("cell", "stored"), [("true", True), ("TRUE", True), ("yes", True), ("1", True), ("false", False), ("No", False), ("0", False)])
def test_the_opted_out_column_reads_as_a_flag(cell, stored):
    record = record_from_cells({"display_name": "Ada", "opted_out": cell, "opted_out_changed_at": " 2026-11-26T12:00:00Z "})
    assert record["opted_out"] is stored and record["opted_out_changed_at"] == "2026-11-26T12:00:00Z"


def test_empty_opt_out_cells_leave_the_fields_out_so_the_store_keeps_them():
    record = record_from_cells({"display_name": "Ada", "opted_out": "", "opted_out_changed_at": ""})
    assert "opted_out" not in record and "opted_out_changed_at" not in record


def test_an_opted_out_cell_that_is_not_a_flag_is_a_row_error():
    with pytest.raises(ValueError, match="opted_out must be true or false"):
        record_from_cells({"display_name": "Ada", "opted_out": "maybe"})


def test_the_opt_out_columns_are_written_and_read_back_as_they_were():
    for flag in (True, False):
        record = {"customer_id": "ada", "display_name": "Ada", "channels": [], "opted_out": flag, "opted_out_changed_at": "2026-11-26T12:00:00Z"}
        cells = cells_of(record)
        assert (cells["opted_out"], cells["opted_out_changed_at"], cells["extra"]) == ("true" if flag else "false", "2026-11-26T12:00:00Z", "")
        back = record_from_cells(cells)
        assert (back["opted_out"], back["opted_out_changed_at"]) == (flag, "2026-11-26T12:00:00Z")


def test_the_bounded_cache_forgets_the_oldest_and_the_expired():
    cache: BoundedCache[str, int] = BoundedCache(max_entries=2, max_age_s=60)
    cache.put("a", 1)
    cache.put("b", 2)
    assert cache.get("a") == 1  # a is now the most recently used
    cache.put("c", 3)
    assert (cache.get("a"), cache.get("b"), cache.get("c"), len(cache)) == (1, None, 3, 2)
    expired: BoundedCache[str, int] = BoundedCache(max_entries=2, max_age_s=0)
    expired.put("a", 1)
    time.sleep(0.001)
    assert expired.get("a") is None and len(expired) == 0
