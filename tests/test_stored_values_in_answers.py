"""What a console edit (or another program) can leave in Firestore, answered as valid JSON; and
what our logs never say about a customer.

Profiles here are written straight into the emulator, as the console would, not through the store.
"""

from __future__ import annotations

import datetime
import json
import math
import re

import pytest

from store.directory import MAX_NAME_PREFIX_BYTES
from store.profiles import derived_customer_id
from tests.conftest import json_logs, signed_post

ALICE = "alice@example.com"
DERIVED_ID = re.compile(r"addr-[0-9a-f]{20}")


def strict_json(raw: bytes):
    """json.loads that refuses NaN and ±Infinity, as every JSON parser but Python's does."""
    def refuse(constant: str):
        raise ValueError(f"not JSON: {constant}")
    return json.loads(raw, parse_constant=refuse)


def crm(client, location: str, worker: str = ALICE, **params):
    return signed_post(client, {"Location": location, "Worker": worker, **params}, path="/crm")


def request_done(lines: list[dict]) -> dict:
    done = [line for line in lines if line["message"] == "request done"]
    assert len(done) == 1
    return done[0]


# --- item 7: Firestore values JSON cannot hold ----------------------------------------------------

def test_nan_timestamps_references_bytes_and_geo_points_are_answered_as_json(client, db, capsys):
    from google.cloud.firestore import GeoPoint

    when = datetime.datetime(2024, 5, 6, 7, 8, 9, 123456, tzinfo=datetime.timezone.utc)
    db.collection("customers").document("odd").set({
        "display_name": "Odd Values", "sort_name": "odd values", "worker": ALICE,
        "channels": [{"type": "sms", "value": "+15550100900"}],
        "links": [{"type": "CRM", "value": "https://crm.example.com/odd", "display_name": "CRM", "checked": when}],
        "details": {"title": "Notes", "content": "x", "score": math.nan, "limit": math.inf, "since": when,
                    "account": db.document("accounts/acme"), "where": GeoPoint(51.5, -0.12), "blob": b"\x00\xff"},
    })
    capsys.readouterr()
    response = crm(client, "GetCustomerDetailsByCustomerId", CustomerId="odd")
    assert response.status_code == 200 and response.mimetype == "application/json"
    customer = strict_json(response.data)["objects"]["customer"]
    details = customer["details"]
    assert details["score"] is None and details["limit"] is None
    assert details["since"] == "2024-05-06T07:08:09.123456Z"
    assert details["account"] == "accounts/acme"
    assert details["where"] == {"latitude": 51.5, "longitude": -0.12}
    assert details["blob"] == "AP8="
    assert customer["links"][0]["checked"] == "2024-05-06T07:08:09.123456Z"
    lines = json_logs(capsys.readouterr().out)
    warnings = [line for line in lines if line["severity"] == "WARNING"]
    assert len(warnings) == 1 and sorted(warnings[0]["fields"]) == ["details.limit", "details.score"]
    assert request_done(lines)["status"] == 200


def test_the_same_values_in_a_listed_customer_and_in_templates_are_json_too(client, db):
    db.collection("customers").document("odd").set({"display_name": math.nan, "sort_name": "odd", "worker": ALICE,
                                                    "avatar": datetime.datetime(2024, 1, 1, tzinfo=datetime.timezone.utc)})
    db.collection("workers").document(ALICE).set({"display_name": math.inf})
    db.collection("templates").document("t").set({"display_name": "T", "order": "first",
                                                  "templates": [{"content": "Hi {{Name}} from {{Author}}", "whatsAppApproved": True}]})
    db.collection("templates").document("u").set({"display_name": "U", "order": 2, "templates": []})
    listed = crm(client, "GetCustomersList", PageSize="5")
    assert listed.status_code == 200
    assert strict_json(listed.data)["objects"]["customers"] == [{"customer_id": "odd", "display_name": None, "avatar": "2024-01-01T00:00:00.000000Z"}]
    templates = signed_post(client, {"Location": "GetTemplatesByCustomerId", "Worker": ALICE, "CustomerId": "odd"}, path="/templates")
    assert templates.status_code == 200
    # `order` typed as text in the console sorts after the numbered ones instead of failing the sort.
    assert [category["display_name"] for category in strict_json(templates.data)] == ["U", "T"]


def test_an_index_entry_whose_avatar_is_not_text_still_names_the_conversation(client, db):
    db.collection("customer_addresses").document("+15550100903").set(
        {"customer_id": "ix", "display_name": "Index Edited", "avatar": datetime.datetime(2024, 1, 1, tzinfo=datetime.timezone.utc)})
    response = signed_post(client, {"EventType": "onConversationAdd", "MessagingBinding.Address": "+15550100903", "Attributes": "{}"})
    assert response.status_code == 200 and strict_json(response.data) == {"friendly_name": "Index Edited"}


@pytest.mark.parametrize(("worker", "status"), [(ALICE, 403), ("5", 200)])
def test_a_worker_stored_as_a_number_is_that_worker_not_a_server_error(client, db, worker, status):
    db.collection("customers").document("num").set({"display_name": "Num", "sort_name": "num", "worker": 5})
    assert crm(client, "GetCustomerDetailsByCustomerId", worker=worker, CustomerId="num").status_code == status


def test_an_anchor_without_sort_name_ends_the_list_instead_of_failing_it(client, db, capsys):
    db.collection("customers").document("a").set({"display_name": "A", "sort_name": "a", "worker": ALICE})
    db.collection("customers").document("hand").set({"display_name": "Hand Made", "worker": ALICE})  # no sort_name
    capsys.readouterr()
    response = crm(client, "GetCustomersList", Anchor="hand")
    assert response.status_code == 200 and response.get_json() == {"objects": {"customers": []}}
    assert any("has no sort_name" in line["message"] for line in json_logs(capsys.readouterr().out))


def test_malformed_channels_links_and_details_show_as_nothing_not_a_server_error(client, db):
    db.collection("customers").document("bad").set({"display_name": "Bad", "sort_name": "bad", "worker": ALICE,
                                                     "channels": ["+15550100901", {"type": "sms", "value": "+15550100902"}],
                                                     "links": "https://not-a-list.example.com", "details": ["not", "a", "map"]})
    customer = crm(client, "GetCustomerDetailsByCustomerId", CustomerId="bad").get_json()["objects"]["customer"]
    assert customer["channels"] == [{"type": "sms", "value": "+15550100902"}]
    assert customer["links"] == [] and customer["details"] == {}


def test_an_answer_json_cannot_hold_is_never_serialised():
    from web.replies import Reply, http_response

    with pytest.raises(ValueError):
        http_response(Reply(200, {"score": math.nan}), {})


# --- item 8: the search Query is capped at what Firestore accepts ------------------------------------

@pytest.mark.parametrize("query", ["a" * 2000, "a" * 1497, "ß" * 749])  # "ß" (2 bytes) case-folds to "ss": 1,498 bytes searched
def test_a_search_query_over_firestores_limit_is_a_400_not_a_500(client, db, capsys, query):
    response = crm(client, "GetCustomersList", Query=query)
    assert response.status_code == 400
    assert response.get_json() == {"error": f"Query is over {MAX_NAME_PREFIX_BYTES} bytes"}
    assert request_done(json_logs(capsys.readouterr().out))["status"] == 400


def test_a_search_query_just_under_the_limit_is_searched(client, db):
    db.collection("customers").document("long").set({"display_name": "a" * 1500, "sort_name": "a" * 1500, "worker": ALICE})
    response = crm(client, "GetCustomersList", Query="a" * MAX_NAME_PREFIX_BYTES)
    assert response.status_code == 200


# --- item 4: a derived customer id never appears in a log line ----------------------------------------

def test_a_derived_customer_id_is_never_logged_in_the_clear(client, store, twilio, capsys):
    number = "+15550100004"
    profile = {"display_name": "Derived", "channels": [{"type": "sms", "value": number}], "worker": ALICE}
    customer_id = derived_customer_id(profile, "US")
    store.upsert(customer_id, profile)
    capsys.readouterr()
    named = signed_post(client, {"EventType": "onConversationAdd", "MessagingBinding.Address": number})
    assert named.get_json()["friendly_name"] == "Derived"
    details = crm(client, "GetCustomerDetailsByCustomerId", worker="bob@example.com", CustomerId=customer_id)
    assert details.status_code == 403
    missing = crm(client, "GetCustomerDetailsByCustomerId", CustomerId=customer_id[:-1] + "0")
    assert missing.status_code == 404
    out = capsys.readouterr().out
    assert not DERIVED_ID.search(out), [line for line in out.splitlines() if DERIVED_ID.search(line)]
    lines = json_logs(out)
    named_lines = [line for line in lines if line.get("outcome") == "conversation named from profile"]
    # The same keyed pseudonym on every line about this customer, so they can still be matched up.
    assert named_lines and re.fullmatch(r"addr~[0-9a-f]{12}", named_lines[0]["customer_id"])
    assert any(named_lines[0]["customer_id"] in line["message"] for line in lines if line["message"].startswith("rejected: customer"))
