"""handlers.frontline_shapes: the Frontline callbacks' answers, field for field."""

from __future__ import annotations

import pytest
from werkzeug.datastructures import MultiDict

from handlers.frontline_shapes import (
    DEFAULT_PAGE_SIZE,
    MAX_PAGE_SIZE,
    customer_details,
    customer_summary,
    details_with_opt_out,
    is_approved,
    is_visible,
    page_size_of,
    proxy_address,
    render,
    rendered_categories,
    required,
    template_values,
)
from runtime.errors import BadRequest

ADA = {
    "display_name": "Ada Lovelace",
    "avatar": "https://example.com/ada.png",
    "channels": [{"type": "sms", "value": "+15558675310", "note": "not for Frontline"}, {"type": "email", "value": "ada@example.com"}],
    "links": [{"type": "crm", "value": "https://crm.example.com/ada", "display_name": "CRM"}],
    "details": {"title": "Countess", "content": "Analyst"},
    "worker": "joe",
    "sort_name": "ada lovelace",
}


def refusal(call, *args) -> str:
    with pytest.raises(BadRequest) as raised:
        call(*args)
    assert raised.value.reason == str(raised.value)
    return raised.value.reason


# --- required fields ---------------------------------------------------------------------------


def test_a_required_field_is_returned_trimmed():
    assert required(MultiDict([("Worker", " joe ")]), "Worker") == "joe"


@pytest.mark.parametrize("params", [MultiDict(), MultiDict([("Worker", "")]), MultiDict([("Worker", "  ")]), {"Worker": None}])
def test_a_missing_or_blank_required_field_is_named(params):
    assert refusal(required, params, "Worker") == "missing required field: Worker"


# --- page size ----------------------------------------------------------------------------------


def test_the_page_size_limits():
    assert (DEFAULT_PAGE_SIZE, MAX_PAGE_SIZE) == (30, 100)


@pytest.mark.parametrize("raw, size", [
    (None, 30), ("", 30), ("  ", 30),
    ("1", 1), (" 7 ", 7), ("30", 30), ("99", 99), ("100", 100), ("101", 100), ("100000", 100),
])
def test_page_size(raw, size):
    assert page_size_of(raw) == size


@pytest.mark.parametrize("raw", ["0", "-1", " -20 "])
def test_a_page_size_under_one_is_refused(raw):
    assert refusal(page_size_of, raw) == f"PageSize must be at least 1, got {int(raw)}"


@pytest.mark.parametrize("raw", ["ten", "2.5", "1e3", "0x10"])
def test_a_page_size_that_is_not_a_whole_number_is_refused(raw):
    assert refusal(page_size_of, raw) == f"PageSize must be a whole number, got {raw!r}"


def test_a_long_page_size_is_quoted_cut_to_forty_characters():
    raw = "9" * 30 + "x" * 30
    assert refusal(page_size_of, raw) == f"PageSize must be a whole number, got {raw[:40]!r}"


def test_a_refused_page_size_is_a_400_that_hides_int_s_own_error():
    with pytest.raises(BadRequest) as raised:
        page_size_of("ten")
    assert raised.value.status == 400
    assert raised.value.__cause__ is None and raised.value.__suppress_context__


# --- who sees a customer --------------------------------------------------------------------------


@pytest.mark.parametrize("owner, worker, unassigned_visible, visible", [
    ("joe", "joe", False, True),
    (" joe ", "joe", False, True),
    ("joe", "ann", True, False),
    ("joe", "", True, False),
    ("", "joe", True, True),
    ("  ", "joe", True, True),
    ("", "joe", False, False),
    (None, "joe", True, True),
    (5, "5", False, True),  # ids are text: a console-typed number is that worker's id
    (5, "joe", True, False),  # ...so it never makes a customer visible to every worker
    (" 5 ", "5", False, True),
    ("Joe", "joe", False, False),
])
def test_is_visible(owner, worker, unassigned_visible, visible):
    assert is_visible({"worker": owner}, worker, unassigned_visible) is visible


def test_a_profile_without_a_worker_field_is_unassigned():
    assert is_visible({}, "joe", True) is True
    assert is_visible({}, "joe", False) is False


# --- customers ------------------------------------------------------------------------------------


def test_a_summary_names_the_customer():
    assert customer_summary("ada", ADA) == {"customer_id": "ada", "display_name": "Ada Lovelace", "avatar": "https://example.com/ada.png"}


def test_a_sparse_summary_has_an_empty_name_and_a_null_avatar():
    assert customer_summary("ada", {}) == {"customer_id": "ada", "display_name": "", "avatar": None}


def test_details_carry_channels_links_and_details_and_nothing_of_ours():
    assert customer_details("ada", ADA) == {
        "customer_id": "ada",
        "display_name": "Ada Lovelace",
        "avatar": "https://example.com/ada.png",
        "channels": [{"type": "sms", "value": "+15558675310"}, {"type": "email", "value": "ada@example.com"}],
        "links": [{"type": "crm", "value": "https://crm.example.com/ada", "display_name": "CRM"}],
        "details": {"title": "Countess", "content": "Analyst"},
    }


@pytest.mark.parametrize("profile", [{"display_name": "Ada"}, {"display_name": "Ada", "channels": None, "links": None, "details": None}])
def test_sparse_details_are_empty_not_missing(profile):
    assert customer_details("ada", profile) == {"customer_id": "ada", "display_name": "Ada", "avatar": None,
                                                "channels": [], "links": [], "details": {}}


def test_details_of_a_console_edit_show_only_what_has_the_right_shape():
    profile = {"display_name": "Ada", "channels": ["+15558675310", {"type": "sms", "value": "+15558675310"}, None],
               "links": {"value": "https://x"}, "details": ["not", "an", "object"]}
    assert customer_details("ada", profile) == {"customer_id": "ada", "display_name": "Ada", "avatar": None,
                                                "channels": [{"type": "sms", "value": "+15558675310"}], "links": [], "details": {}}
    assert customer_details("ada", {"display_name": "Ada", "channels": "+15558675310", "links": [7, {"value": "https://x"}]})["links"] == \
        [{"value": "https://x"}]
    assert customer_details("ada", {"display_name": "Ada", "channels": "+15558675310"})["channels"] == []


NOTE = "Opted out of messages{on} (texted STOP): messages to them are refused until they text START."


def test_an_opted_out_customers_details_lead_with_it_and_keep_the_notes():
    profile = {"details": {"title": "Notes", "content": "  Prefers SMS.  ", "extra": 1}, "opted_out": True,
               "opted_out_changed_at": "2026-11-26T12:00:00Z"}
    assert details_with_opt_out(profile) == {"title": "Notes", "content": NOTE.format(on=" on 2026-11-26") + "\n\nPrefers SMS.", "extra": 1}
    assert profile["details"]["content"] == "  Prefers SMS.  "  # the stored profile is not changed


@pytest.mark.parametrize("details", [None, {}, {"title": "", "content": "  "}, ["not", "a", "map"]])
def test_an_opted_out_customer_without_notes_gets_a_title_and_the_note_alone(details):
    assert details_with_opt_out({"details": details, "opted_out": True}) == {"title": "Opted out", "content": NOTE.format(on="")}


@pytest.mark.parametrize("changed_at", [None, "", "  ", 20261126])
def test_without_a_stored_time_the_note_says_no_date(changed_at):
    assert details_with_opt_out({"opted_out": True, "opted_out_changed_at": changed_at})["content"] == NOTE.format(on="")


@pytest.mark.parametrize("flag", [False, None, "true", 1])
def test_details_are_as_stored_unless_opted_out_is_true(flag):
    profile = {"details": {"title": "Notes", "content": "x"}, "opted_out": flag}
    assert details_with_opt_out(profile) == {"title": "Notes", "content": "x"}
    assert customer_details("ada", profile)["details"] == {"title": "Notes", "content": "x"}


def test_customer_details_carry_the_opt_out_note():
    assert customer_details("ada", {"display_name": "Ada", "opted_out": True})["details"] == {"title": "Opted out", "content": NOTE.format(on="")}


def test_details_are_copies():
    details = customer_details("ada", ADA)
    details["links"].append({"value": "https://x"})
    details["details"]["title"] = "changed"
    assert ADA["links"] == [{"type": "crm", "value": "https://crm.example.com/ada", "display_name": "CRM"}]
    assert ADA["details"]["title"] == "Countess"


# --- proxy address ---------------------------------------------------------------------------------


@pytest.mark.parametrize("channel_type, worker, expected", [
    ("sms", {}, "+15005550006"),
    (" SMS ", {}, "+15005550006"),
    ("sms", {"sms_number": "+15005550001"}, "+15005550001"),
    ("sms", {"sms_number": ""}, "+15005550006"),
    ("whatsapp", {}, "whatsapp:+14155238886"),
    ("WhatsApp", {}, "whatsapp:+14155238886"),
    ("whatsapp", {"whatsapp_number": "+15005550002"}, "whatsapp:+15005550002"),
    ("whatsapp", {"whatsapp_number": "whatsapp:+15005550002"}, "whatsapp:+15005550002"),
    ("whatsapp", {"whatsapp_number": "WhatsApp:+15005550002"}, "WhatsApp:+15005550002"),
    ("chat", {"sms_number": "+15005550001"}, None),
    ("email", {}, None),
])
def test_proxy_address(channel_type, worker, expected):
    assert proxy_address(channel_type, worker, "+15005550006", "+14155238886") == expected


def test_no_proxy_address_when_none_is_configured():
    assert proxy_address("sms", {}, "", "") is None
    assert proxy_address("whatsapp", {}, "", "") is None
    assert proxy_address("whatsapp", {"whatsapp_number": ""}, "+15005550006", "") is None


def test_a_configured_whatsapp_number_may_carry_its_prefix():
    assert proxy_address("whatsapp", {}, "", "whatsapp:+14155238886") == "whatsapp:+14155238886"


# --- templates -------------------------------------------------------------------------------------


def test_template_values():
    assert template_values("ada", ADA, "joe@example.com", {"display_name": "Joe Worker"}) == {
        "Name": "Ada Lovelace", "FirstName": "Ada", "CustomerId": "ada", "Author": "Joe Worker"}


def test_template_values_of_a_sparse_customer_and_worker():
    assert template_values("ada", {}, "joe@example.com", {}) == {"Name": "", "FirstName": "", "CustomerId": "ada", "Author": "joe@example.com"}
    assert template_values("ada", {"display_name": "   "}, "joe", {"display_name": ""})["FirstName"] == ""
    assert template_values("ada", {"display_name": 42}, "joe", {"display_name": 7}) == {
        "Name": "42", "FirstName": "42", "CustomerId": "ada", "Author": "7"}


@pytest.mark.parametrize("content, rendered", [
    ("Hi {{FirstName}}, {{Author}} here.", "Hi Ada, Joe here."),
    ("{{ Name }}/{{Name}}/{{  Name}}", "Ada Lovelace/Ada Lovelace/Ada Lovelace"),
    ("Hi {{Nmae}}", "Hi {{Nmae}}"),  # a typo stays visible
    ("Hi {{First Name}} {Name} {{}}", "Hi {{First Name}} {Name} {{}}"),
    ("no placeholders", "no placeholders"),
    ("", ""),
])
def test_render(content, rendered):
    assert render(content, {"Name": "Ada Lovelace", "FirstName": "Ada", "Author": "Joe"}) == rendered


@pytest.mark.parametrize("flag", [True, "true", "TRUE", " True ", "1", "yes", "YES", " Yes"])
def test_approved(flag):
    assert is_approved(flag) is True


@pytest.mark.parametrize("flag", [False, "false", "", None, "no", "0", "y", "approved", 0, 1, "truee"])
def test_not_approved(flag):
    # 1 as a number is not True: only the JSON boolean or its text counts
    assert is_approved(flag) is False


def test_rendered_categories():
    categories = [
        {"display_name": "Openers", "templates": [
            {"content": "Hi {{FirstName}}", "whatsAppApproved": True},
            {"content": "Hello {{Name}}, {{Author}} here", "whatsAppApproved": "false"},
            {"content": "Bye", "whatsAppApproved": "yes"},
            {},
        ]},
        {"display_name": "Empty", "templates": []},
        {"templates": None},
    ]
    values = {"Name": "Ada Lovelace", "FirstName": "Ada", "Author": "Joe"}
    assert rendered_categories(categories, values) == [
        {"display_name": "Openers", "templates": [
            {"content": "Hi Ada", "whatsAppApproved": True},
            {"content": "Hello Ada Lovelace, Joe here", "whatsAppApproved": False},
            {"content": "Bye", "whatsAppApproved": True},
            {"content": "", "whatsAppApproved": False},
        ]},
        {"display_name": "Empty", "templates": []},
        {"display_name": "", "templates": []},
    ]


def test_template_content_that_is_not_text_is_rendered_as_text():
    assert rendered_categories([{"display_name": "x", "templates": [{"content": 42}]}], {}) == [
        {"display_name": "x", "templates": [{"content": "42", "whatsAppApproved": False}]}]
