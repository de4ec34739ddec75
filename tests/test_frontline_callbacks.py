"""Frontline callbacks end to end: signed form POSTs with `Location` and `Worker` → real
Firestore emulator (and the Twilio stand-in or Prism for routing) → Frontline's JSON shapes.

CRM (GetCustomersList, GetCustomerDetailsByCustomerId), outgoing (GetProxyAddress),
templates (GetTemplatesByCustomerId), path routing (/crm /outgoing /templates), and the
custom routing callback at /routing that adds the customer's worker to the conversation.
"""

from __future__ import annotations

import random
import re
import time
from urllib.parse import urlencode

import pytest

from handlers.frontline_shapes import DEFAULT_PAGE_SIZE, MAX_PAGE_SIZE
from tests.conftest import CONVERSATION_SID, PRISM_LOG, json_logs, sign, signed_post

ALICE = "alice@example.com"
BOB = "bob@example.com"
CAROL = "carol@example.com"

ADA = {
    "display_name": "Ada Lovelace",
    "avatar": "https://avatars.example.com/ada.png",
    "channels": [{"type": "sms", "value": "+15558675310"}, {"type": "email", "value": "ada@example.com"}],
    "links": [{"type": "Facebook", "value": "https://facebook.example.com/ada", "display_name": "Ada on Facebook"}],
    "details": {"title": "Notes", "content": "Prefers SMS in the morning."},
    "worker": ALICE,
}
ADAM = {"display_name": "ADAM", "channels": [{"type": "sms", "value": "+15550100001"}], "worker": ALICE}
ADALINE_OF_BOB = {"display_name": "adaline", "channels": [{"type": "sms", "value": "+15550100002"}], "worker": BOB}
GRACE = {"display_name": "Grace Hopper", "channels": [{"type": "sms", "value": "+15550100003"}], "worker": ALICE}
KATHERINE_UNASSIGNED = {"display_name": "Katherine Johnson", "channels": [{"type": "whatsapp", "value": "whatsapp:+15550100004"}]}

TEMPLATE_CATEGORIES = [  # saved in this order; `order` says otherwise
    ("follow-up", {"order": 2, "display_name": "Follow-up", "templates": [
        {"content": "{{FirstName}}, just checking in on your last order. {{Author}}", "whatsAppApproved": False}]}),
    ("greetings", {"order": 1, "display_name": "Greetings", "templates": [
        {"content": "Hello {{Name}}, this is {{Author}}. How can I help?", "whatsAppApproved": True},
        {"content": "Hi {{FirstName}}, thanks for getting in touch! {{Unknown}}", "whatsAppApproved": False}]}),
    ("a-last", {"order": 3, "display_name": "Closing", "templates": []}),
]


def crm(client, location, worker=ALICE, path="/", **params):
    form = {"Location": location, **({"Worker": worker} if worker is not None else {}), **params}
    return signed_post(client, form, path=path)


def customers_list(client, worker=ALICE, **params):
    return crm(client, "GetCustomersList", worker, **params)


def listed(response) -> list[dict]:
    assert response.status_code == 200, response.get_data(as_text=True)
    return response.get_json()["objects"]["customers"]


def error_of(response) -> str:
    body = response.get_json()
    assert set(body) == {"error"} and isinstance(body["error"], str) and body["error"], body
    return body["error"]


# --- bulk data -------------------------------------------------------------------------------

_FIRST = ["ada", "Adam", "ALAN", "barbara", "Bea", "carl", "Chen", "dora", "Émile", "eve", "Frank", "grace", "hedy",
          "ivan", "Joan", "kay", "Lin", "mary", "Nils", "otto", "Pia", "quinn", "Rosa", "sam", "Tess", "uma", "Vic",
          "wes", "Xi", "yan", "Zoe"]


def _name(rng: random.Random, index: int) -> str:
    # Mixed case on purpose: a case-sensitive order ("Zoe" < "ada") would be visibly wrong.
    first = rng.choice(_FIRST)
    first = rng.choice([first.lower(), first.upper(), first.capitalize()])
    if index % 25 == 0:
        return "Smith"  # ten exact ties, spread over the page boundaries by id
    if index % 25 == 1:
        return "smith"  # ties after casefolding
    return f"{first} {rng.choice(['Lee', 'lee', 'Oduya', 'park', 'Ng'])} {rng.randrange(1000):03d}"


def write_customers(db, customers: dict[str, dict]) -> None:
    """Many customers fast: one WriteBatch per 400, each document exactly as the write path stores it."""
    from store.profiles import validate_profile

    items = list(customers.items())
    for start in range(0, len(items), 400):
        batch = db.batch()
        for customer_id, profile in items[start:start + 400]:
            batch.set(db.collection("customers").document(customer_id), validate_profile(profile, "US"))
        batch.commit()


def crowd(db) -> dict[str, dict]:
    """250 customers of alice, 30 of bob (names interleaved with hers) and 5 unassigned."""
    rng = random.Random(20261126)
    customers: dict[str, dict] = {}
    for i in range(250):
        customers[f"alice-{rng.randrange(10**6):06d}-{i:03d}"] = {"display_name": _name(rng, i), "worker": ALICE}
    for i in range(30):
        customers[f"bob-{i:03d}"] = {"display_name": _name(rng, i + 2), "worker": BOB}
    for i in range(5):
        customers[f"free-{i:03d}"] = {"display_name": _name(rng, i + 2)}
    write_customers(db, customers)
    return customers


def page_through(client, page_size: str, worker=ALICE, query: str | None = None, max_pages: int = 40) -> list[list[dict]]:
    pages: list[list[dict]] = []
    anchor = None
    for _ in range(max_pages):
        params = {"PageSize": page_size}
        if anchor:
            params["Anchor"] = anchor
        if query is not None:
            params["Query"] = query
        page = listed(customers_list(client, worker, **params))
        pages.append(page)
        if len(page) < int(page_size):
            return pages
        anchor = page[-1]["customer_id"]
    pytest.fail(f"paging did not stop after {max_pages} pages")


# --- GetCustomersList: paging ------------------------------------------------------------------

@pytest.mark.parametrize(("unassigned_visible", "page_size"), [("true", "30"), ("false", "30"), ("false", "25")],
                         ids=["unassigned-visible", "unassigned-hidden", "hidden-exact-multiple"])
def test_every_customer_of_the_worker_exactly_once_in_name_order(client, db, settings_env, unassigned_visible, page_size):
    settings_env(UNASSIGNED_CUSTOMERS_VISIBLE=unassigned_visible)
    customers = crowd(db)
    visible_owners = {ALICE, ""} if unassigned_visible == "true" else {ALICE}
    expected = {cid for cid, p in customers.items() if p.get("worker", "") in visible_owners}

    pages = page_through(client, page_size)

    size = int(page_size)
    assert all(len(page) == size for page in pages[:-1])
    assert len(pages[-1]) == len(expected) % size  # a final short page, or an empty one on an exact multiple
    shown = [c for page in pages for c in page]
    ids = [c["customer_id"] for c in shown]
    assert len(ids) == len(set(ids)), "a customer was listed twice"
    assert set(ids) == expected
    assert not [cid for cid in ids if cid.startswith("bob-")]
    assert any(cid.startswith("free-") for cid in ids) == (unassigned_visible == "true")
    names = [c["display_name"] for c in shown]
    assert names == sorted(names, key=str.casefold), "not in case-insensitive display-name order"
    assert names != sorted(names), "fixture must make case-sensitive order differ"
    for c in shown:
        assert set(c) == {"customer_id", "display_name", "avatar"}
        assert c["display_name"] == customers[c["customer_id"]]["display_name"]

    after_last = listed(customers_list(client, PageSize=page_size, Anchor=ids[-1]))
    assert after_last == []


def test_bob_sees_only_his_own_and_unassigned_customers(client, db):
    customers = crowd(db)
    ids = [c["customer_id"] for page in page_through(client, "30", worker=BOB) for c in page]
    assert sorted(ids) == sorted(cid for cid, p in customers.items() if p.get("worker", "") in (BOB, ""))


def test_a_worker_with_no_customers_gets_an_empty_list(client, db, settings_env):
    settings_env(UNASSIGNED_CUSTOMERS_VISIBLE="false")
    crowd(db)
    assert listed(customers_list(client, CAROL, PageSize="30")) == []


def test_an_anchor_that_no_longer_exists_ends_the_list(client, store):
    store.upsert("ada", ADA)
    assert listed(customers_list(client, PageSize="30", Anchor="deleted-customer")) == []


# --- GetCustomersList: PageSize ------------------------------------------------------------------

def _many(db, count: int) -> None:
    write_customers(db, {f"c-{i:04d}": {"display_name": f"Customer {i:04d}", "worker": ALICE} for i in range(count)})


@pytest.mark.parametrize("page_size", ["abc", "0", "-3", "2.5"])
def test_a_page_size_that_is_not_a_positive_whole_number_is_400_with_a_reason(client, db, page_size, capsys):
    _many(db, 3)
    response = customers_list(client, PageSize=page_size)
    assert response.status_code == 400
    reason = error_of(response)
    assert "PageSize" in reason
    assert any(reason in line["message"] for line in json_logs(capsys.readouterr().out))


def test_a_missing_page_size_gives_the_default_page(client, db):
    _many(db, DEFAULT_PAGE_SIZE + 7)
    page = listed(customers_list(client))
    assert len(page) == DEFAULT_PAGE_SIZE
    assert [c["customer_id"] for c in page] == [f"c-{i:04d}" for i in range(DEFAULT_PAGE_SIZE)]


def test_a_huge_page_size_is_capped(client, db):
    _many(db, MAX_PAGE_SIZE + 20)
    assert len(listed(customers_list(client, PageSize="1000000"))) == MAX_PAGE_SIZE


def test_a_small_page_size_is_honoured(client, db):
    _many(db, 10)
    assert [c["customer_id"] for c in listed(customers_list(client, PageSize=" 3 "))] == ["c-0000", "c-0001", "c-0002"]


# --- GetCustomersList: Query ---------------------------------------------------------------------

@pytest.fixture()
def people(store):
    store.upsert("ada", ADA)
    store.upsert("adam", ADAM)
    store.upsert("adaline", ADALINE_OF_BOB)
    store.upsert("grace", GRACE)
    store.upsert("katherine", KATHERINE_UNASSIGNED)
    return store


@pytest.mark.parametrize("query", ["ada", "ADA", "Ada", "  ada  "])
def test_name_prefix_search_is_case_insensitive(client, people, query):
    found = listed(customers_list(client, PageSize="30", Query=query))
    assert [c["customer_id"] for c in found] == ["ada", "adam"]  # not bob's "adaline", not grace
    assert found[0] == {"customer_id": "ada", "display_name": "Ada Lovelace", "avatar": "https://avatars.example.com/ada.png"}


def test_name_search_matches_a_prefix_only_and_finds_unassigned_customers(client, people):
    assert [c["customer_id"] for c in listed(customers_list(client, PageSize="30", Query="kath"))] == ["katherine"]
    assert listed(customers_list(client, PageSize="30", Query="lovelace")) == []
    assert listed(customers_list(client, PageSize="30", Query="adaz")) == []


def test_name_search_pages_with_the_anchor(client, db):
    write_customers(db, {
        **{f"s-{i:03d}": {"display_name": f"{'SMITH' if i % 2 else 'smith'} {i:03d}", "worker": ALICE} for i in range(45)},
        **{f"t-{i:03d}": {"display_name": f"Smythe {i:03d}", "worker": ALICE} for i in range(10)},
        **{f"b-{i:03d}": {"display_name": f"Smith {i:03d}", "worker": BOB} for i in range(10)},
    })
    pages = page_through(client, "20", query="Smi")
    assert [len(p) for p in pages] == [20, 20, 5]
    ids = [c["customer_id"] for p in pages for c in p]
    assert ids == [f"s-{i:03d}" for i in range(45)]


@pytest.mark.parametrize("query", ["+15558675310", "(555) 867-5310", "555-867-5310", "whatsapp:+15558675310", "sms:+15558675310"])
def test_phone_search_finds_the_customer_whatever_the_format(client, people, query):
    found = listed(customers_list(client, PageSize="30", Query=query))
    assert [c["customer_id"] for c in found] == ["ada"]


def test_phone_search_does_not_find_another_workers_customer(client, people):
    assert listed(customers_list(client, PageSize="30", Query="+15550100002")) == []
    assert [c["customer_id"] for c in listed(customers_list(client, BOB, PageSize="30", Query="+15550100002"))] == ["adaline"]


def test_phone_search_finds_an_unassigned_customer_only_while_they_are_visible(client, people, settings_env):
    assert [c["customer_id"] for c in listed(customers_list(client, PageSize="30", Query="+15550100004"))] == ["katherine"]
    settings_env(UNASSIGNED_CUSTOMERS_VISIBLE="false")
    assert listed(customers_list(client, PageSize="30", Query="+15550100004")) == []
    assert listed(customers_list(client, PageSize="30", Query="Kath")) == []


def test_phone_search_for_an_unknown_number_is_empty(client, people):
    assert listed(customers_list(client, PageSize="30", Query="+15550199999")) == []


# --- GetCustomerDetailsByCustomerId --------------------------------------------------------------

def details(client, customer_id=None, worker=ALICE):
    return crm(client, "GetCustomerDetailsByCustomerId", worker, **({"CustomerId": customer_id} if customer_id is not None else {}))


def test_customer_details_have_the_full_frontline_shape(client, people):
    response = details(client, "ada")
    assert response.status_code == 200
    assert response.get_json() == {"objects": {"customer": {
        "customer_id": "ada",
        "display_name": "Ada Lovelace",
        "avatar": "https://avatars.example.com/ada.png",
        "channels": [{"type": "sms", "value": "+15558675310"}, {"type": "email", "value": "ada@example.com"}],
        "links": [{"type": "Facebook", "value": "https://facebook.example.com/ada", "display_name": "Ada on Facebook"}],
        "details": {"title": "Notes", "content": "Prefers SMS in the morning."},
    }}}


def test_details_of_a_sparse_customer_still_have_every_key(client, people):
    customer = details(client, "adam").get_json()["objects"]["customer"]
    assert customer == {"customer_id": "adam", "display_name": "ADAM", "avatar": None,
                        "channels": [{"type": "sms", "value": "+15550100001"}], "links": [], "details": {}}


def test_details_of_an_unassigned_customer_follow_the_visibility_setting(client, people, settings_env):
    assert details(client, "katherine").status_code == 200
    settings_env(UNASSIGNED_CUSTOMERS_VISIBLE="false")
    assert details(client, "katherine").status_code == 403


def test_details_of_a_missing_customer_are_404(client, people):
    response = details(client, "nobody")
    assert response.status_code == 404
    assert "nobody" in error_of(response)


def test_details_of_another_workers_customer_are_403(client, people):
    response = details(client, "adaline")
    assert response.status_code == 403
    assert "another worker" in error_of(response)
    assert details(client, "adaline", worker=BOB).status_code == 200


@pytest.mark.parametrize(("worker", "customer_id", "missing"), [(None, "ada", "Worker"), ("  ", "ada", "Worker"), (ALICE, None, "CustomerId")])
def test_details_without_worker_or_customer_id_are_400(client, people, worker, customer_id, missing):
    response = details(client, customer_id, worker=worker)
    assert response.status_code == 400
    assert error_of(response) == f"missing required field: {missing}"


def test_customers_list_without_worker_is_400(client, people):
    response = customers_list(client, worker=None, PageSize="30")
    assert response.status_code == 400
    assert error_of(response) == "missing required field: Worker"


# --- GetProxyAddress -----------------------------------------------------------------------------

def proxy(client, worker, channel_type, path="/"):
    return crm(client, "GetProxyAddress", worker, path=path, CustomerId="ada", ChannelType=channel_type, ChannelValue="+15558675310")


@pytest.fixture()
def workers(db):
    from store.directory import save_worker

    save_worker(db, ALICE, {"identity": ALICE, "display_name": "Alice Example", "sms_number": "+15005550006",
                            "whatsapp_number": "+15005550007"})
    save_worker(db, BOB, {"identity": BOB, "display_name": "Bob Example"})


def test_a_worker_with_an_own_number_texts_from_it(client, workers, settings_env):
    settings_env(TWILIO_SMS_NUMBER="+15005550100", TWILIO_WHATSAPP_NUMBER="+15005550101")
    assert proxy(client, ALICE, "sms").get_json() == {"proxy_address": "+15005550006"}
    assert proxy(client, ALICE, "whatsapp").get_json() == {"proxy_address": "whatsapp:+15005550007"}


def test_a_worker_without_an_own_number_texts_from_the_configured_one(client, workers, settings_env):
    settings_env(TWILIO_SMS_NUMBER="+15005550100", TWILIO_WHATSAPP_NUMBER="+15005550101")
    for worker in (BOB, CAROL):  # bob has a workers doc without numbers; carol has none at all
        response = proxy(client, worker, "sms")
        assert response.status_code == 200
        assert response.get_json() == {"proxy_address": "+15005550100"}
        assert proxy(client, worker, "whatsapp").get_json() == {"proxy_address": "whatsapp:+15005550101"}


def test_a_whatsapp_number_already_prefixed_is_not_prefixed_twice(client, workers, settings_env):
    settings_env(TWILIO_WHATSAPP_NUMBER="whatsapp:+15005550101")
    assert proxy(client, BOB, "whatsapp").get_json() == {"proxy_address": "whatsapp:+15005550101"}


def test_channel_type_is_compared_case_insensitively(client, workers, settings_env):
    settings_env(TWILIO_SMS_NUMBER="+15005550100")
    assert proxy(client, BOB, "SMS").get_json() == {"proxy_address": "+15005550100"}


@pytest.mark.parametrize("channel_type", ["sms", "whatsapp"])
def test_no_proxy_number_configured_is_403_with_a_reason(client, workers, settings_env, channel_type):
    settings_env(TWILIO_SMS_NUMBER=None, TWILIO_WHATSAPP_NUMBER=None)
    response = proxy(client, BOB, channel_type)
    assert response.status_code == 403
    reason = error_of(response)
    assert channel_type in reason and "proxy address" in reason


def test_get_proxy_address_without_channel_type_is_400(client, workers, settings_env):
    settings_env(TWILIO_SMS_NUMBER="+15005550100")
    response = crm(client, "GetProxyAddress", ALICE, CustomerId="ada", ChannelValue="+15558675310")
    assert response.status_code == 400
    assert error_of(response) == "missing required field: ChannelType"


# --- GetTemplatesByCustomerId --------------------------------------------------------------------

@pytest.fixture()
def templates(db):
    from store.directory import save_template_category

    for category_id, category in TEMPLATE_CATEGORIES:
        save_template_category(db, category_id, category)


def get_templates(client, customer_id, worker=ALICE, path="/"):
    return crm(client, "GetTemplatesByCustomerId", worker, path=path, CustomerId=customer_id, ConversationSid=CONVERSATION_SID)


def test_templates_are_rendered_for_the_customer_in_category_order(client, people, workers, templates):
    response = get_templates(client, "ada")
    assert response.status_code == 200
    assert response.get_json() == [
        {"display_name": "Greetings", "templates": [
            {"content": "Hello Ada Lovelace, this is Alice Example. How can I help?", "whatsAppApproved": True},
            {"content": "Hi Ada, thanks for getting in touch! {{Unknown}}", "whatsAppApproved": False}]},
        {"display_name": "Follow-up", "templates": [
            {"content": "Ada, just checking in on your last order. Alice Example", "whatsAppApproved": False}]},
        {"display_name": "Closing", "templates": []},
    ]
    flags = [t["whatsAppApproved"] for c in response.get_json() for t in c["templates"]]
    assert all(type(flag) is bool for flag in flags)


def test_the_author_is_the_identity_when_the_worker_has_no_display_name(client, people, templates):
    body = get_templates(client, "katherine", worker=CAROL).get_json()  # unassigned: every worker sees her
    assert body[0]["templates"][0]["content"] == f"Hello Katherine Johnson, this is {CAROL}. How can I help?"
    assert body[1]["templates"][0]["content"] == f"Katherine, just checking in on your last order. {CAROL}"


def test_no_template_categories_is_an_empty_list(client, people):
    response = get_templates(client, "ada")
    assert response.status_code == 200
    assert response.get_json() == []


def test_templates_for_an_unknown_customer_are_404(client, people, templates):
    response = get_templates(client, "nobody")
    assert response.status_code == 404
    assert "nobody" in error_of(response)


def test_templates_for_another_workers_customer_are_403(client, people, templates):
    response = get_templates(client, "adaline")  # bob's customer, asked by alice
    assert response.status_code == 403
    assert "adaline" in error_of(response)


# --- routing by path and Location ----------------------------------------------------------------

def test_each_callback_is_served_at_its_own_path(client, people, workers, templates, settings_env):
    settings_env(TWILIO_SMS_NUMBER="+15005550100")
    assert [c["customer_id"] for c in listed(customers_list(client, PageSize="30", Query="ada", path="/crm"))] == ["ada", "adam"]
    response = crm(client, "GetCustomerDetailsByCustomerId", ALICE, path="/crm", CustomerId="ada")
    assert response.status_code == 200 and response.get_json()["objects"]["customer"]["customer_id"] == "ada"
    assert proxy(client, BOB, "sms", path="/outgoing").get_json() == {"proxy_address": "+15005550100"}
    response = get_templates(client, "ada", path="/templates")
    assert response.status_code == 200 and response.get_json()[0]["display_name"] == "Greetings"


def test_a_trailing_slash_on_the_family_path_routes_the_same(client, people):
    response = crm(client, "GetCustomerDetailsByCustomerId", ALICE, path="/crm/", CustomerId="ada")
    assert response.status_code == 200


@pytest.mark.parametrize(("path", "location"), [
    ("/crm", "GetProxyAddress"), ("/crm", "GetTemplatesByCustomerId"),
    ("/outgoing", "GetCustomersList"), ("/templates", "GetCustomerDetailsByCustomerId"),
])
def test_a_location_of_another_family_at_a_family_path_is_422(client, people, settings_env, path, location):
    settings_env(TWILIO_SMS_NUMBER="+15005550100")
    response = crm(client, location, ALICE, path=path, CustomerId="ada", ChannelType="sms", PageSize="30")
    assert response.status_code == 422
    assert location in error_of(response)


@pytest.mark.parametrize("path", ["/", "/crm", "/outgoing", "/templates"])
def test_an_unknown_location_is_422(client, people, path, capsys):
    response = crm(client, "GetCustomerSecrets", ALICE, path=path, CustomerId="ada")
    assert response.status_code == 422
    reason = error_of(response)
    assert "GetCustomerSecrets" in reason
    assert any(reason in line["message"] and line["severity"] != "ERROR" for line in json_logs(capsys.readouterr().out))


def test_a_request_signed_over_another_path_is_refused(client, people):
    params = {"Location": "GetCustomerDetailsByCustomerId", "Worker": ALICE, "CustomerId": "ada"}
    response = client.post("/crm", data=urlencode(params), content_type="application/x-www-form-urlencoded",
                           headers={"X-Twilio-Signature": sign("http://localhost/", params)})
    assert response.status_code == 403


# --- custom routing (/routing) -------------------------------------------------------------------

def route(client, address=None, conversation_sid=CONVERSATION_SID):
    params = {"ChatServiceSid": "IS" + "0" * 32, "MessagingServiceSid": "MG" + "0" * 32}
    if conversation_sid is not None:
        params["ConversationSid"] = conversation_sid
    if address is not None:
        params.update({"MessagingBinding.Address": address, "MessagingBinding.ProxyAddress": "+15005550006",
                       "MessagingBinding.Type": "sms"})
    return signed_post(client, params, path="/routing")


def messages(logs, severity=None):
    return [line["message"] for line in logs if severity is None or line["severity"] == severity]


def test_routing_adds_the_customers_worker_once_even_when_delivered_twice(client, people, twilio, settings_env, capsys):
    settings_env(DEFAULT_WORKER=CAROL)
    first = route(client, "+15558675310")
    second = route(client, "+15558675310")
    assert (first.status_code, second.status_code) == (200, 200)
    assert twilio.identities_in(CONVERSATION_SID) == [ALICE]
    creates = twilio.calls("POST")
    assert [(c.path, c.form) for c in creates] == [(f"/v1/Conversations/{CONVERSATION_SID}/Participants", {"Identity": ALICE})] * 2
    assert twilio.calls("GET") == []
    logs = json_logs(capsys.readouterr().out)
    assert messages(logs, "ERROR") == []
    assert messages(logs, "WARNING") == []  # a 409 is an answer, not a failure to retry
    assert "worker added to conversation" in messages(logs)
    assert "worker already in conversation" in messages(logs)


def test_routing_finds_the_customer_by_any_spelling_of_the_address(client, people, twilio):
    assert route(client, "whatsapp:+15558675310").status_code == 200
    assert twilio.identities_in(CONVERSATION_SID) == [ALICE]


@pytest.mark.parametrize("address", ["+15550100004", "+15550199999", None, ["+15558675310", "+15550100001"]],
                         ids=["unassigned-customer", "unknown-address", "no-address", "group-mms"])
def test_routing_without_a_customer_worker_uses_the_default_worker(client, people, twilio, settings_env, address):
    settings_env(DEFAULT_WORKER=CAROL)
    response = route(client, address)
    assert response.status_code == 200
    assert twilio.identities_in(CONVERSATION_SID) == [CAROL]


def test_routing_with_no_worker_at_all_warns_and_calls_nobody(client, people, twilio, settings_env, capsys):
    settings_env(DEFAULT_WORKER=None)
    response = route(client, "+15550100004")
    assert response.status_code == 200
    assert response.get_json() == {}
    assert twilio.calls() == []
    logs = json_logs(capsys.readouterr().out)
    assert messages(logs, "WARNING") and "DEFAULT_WORKER" in messages(logs, "WARNING")[0]
    assert messages(logs, "ERROR") == []


def test_routing_without_a_conversation_sid_is_400_and_calls_nobody(client, people, twilio):
    response = route(client, "+15558675310", conversation_sid=None)
    assert response.status_code == 400
    assert error_of(response) == "missing required field: ConversationSid"
    assert twilio.calls() == []


def test_routing_retries_a_throttled_create_and_still_adds_once(client, people, twilio):
    from tests.twilio_standin import Fault

    path = f"/v1/Conversations/{CONVERSATION_SID}/Participants"
    twilio.inject("POST", path, Fault(status=429), Fault(status=503))
    assert route(client, "+15558675310").status_code == 200
    assert len(twilio.calls("POST")) == 3
    assert twilio.identities_in(CONVERSATION_SID) == [ALICE]


def test_routing_gives_up_with_an_error_log_but_still_answers_200(client, people, twilio, settings_env, capsys):
    from tests.twilio_standin import Fault

    settings_env(WEBHOOK_DEADLINE_S="0.8")
    twilio.inject_always("POST", f"/v1/Conversations/{CONVERSATION_SID}/Participants", Fault(status=503))
    started = time.monotonic()
    response = route(client, "+15558675310")
    assert response.status_code == 200
    assert time.monotonic() - started < 0.8 + 0.5
    assert twilio.identities_in(CONVERSATION_SID) == []
    errors = messages(json_logs(capsys.readouterr().out), "ERROR")
    assert errors and "routing" in errors[0]


# --- contract: the participant create is one Twilio accepts ----------------------------------------

_ANSI = re.compile(r"\x1b\[[0-9;]*m")


def prism_lines_for(path: str, wait_s: float = 3.0) -> list[str]:
    """Prism's log lines for the request to `path` (unique per test, as the log may be shared)."""
    stop_at = time.monotonic() + wait_s
    while True:
        text = _ANSI.sub("", PRISM_LOG.read_bytes().decode("utf-8", errors="replace").replace("\x00", ""))
        lines: list[str] = []
        inside = False
        for line in text.splitlines():
            if "[HTTP SERVER]" in line:
                inside = f" {path} " in line
            if inside:
                lines.append(line)
        if any("Responding with" in line or "Request terminated" in line for line in lines) or time.monotonic() > stop_at:
            return lines


def test_the_participant_create_is_accepted_by_twilios_spec(client, people, prism, settings_env, capsys):
    settings_env(TWILIO_API_BASE_URL=prism)
    conversation_sid = "CH%032x" % random.getrandbits(128)
    response = route(client, "+15558675310", conversation_sid=conversation_sid)
    assert response.status_code == 200
    logs = json_logs(capsys.readouterr().out)
    assert messages(logs, "ERROR") == []
    assert "worker added to conversation" in messages(logs)
    lines = prism_lines_for(f"/v1/Conversations/{conversation_sid}/Participants")
    assert lines and "post " in lines[0].lower(), lines
    assert any("passed the validation rules" in line for line in lines), lines
    assert not [line for line in lines if "✖" in line or "did not pass the validation" in line], lines


def test_a_create_twilio_would_refuse_is_an_error_not_a_success(client, people, prism, settings_env, capsys):
    """Negative control for the test above: a path Twilio does not serve must not log success."""
    settings_env(TWILIO_API_BASE_URL=prism + "/not-twilio", WEBHOOK_DEADLINE_S="1.0")
    conversation_sid = "CH%032x" % random.getrandbits(128)
    response = route(client, "+15558675310", conversation_sid=conversation_sid)
    assert response.status_code == 200
    logs = json_logs(capsys.readouterr().out)
    assert "worker added to conversation" not in messages(logs)
    assert messages(logs, "ERROR")
    lines = prism_lines_for(f"/not-twilio/v1/Conversations/{conversation_sid}/Participants")
    assert any("Request terminated" in line for line in lines), lines


# --- ids Firestore cannot hold, and the configured region --------------------------------------

@pytest.mark.parametrize("bad_id", ["__x__", ".", "..", "x" * 1600])
def test_ids_firestore_cannot_hold_are_unknown_not_a_server_error(client, people, templates, bad_id):
    assert details(client, bad_id).status_code == 404
    assert get_templates(client, bad_id).status_code == 404
    assert listed(customers_list(client, PageSize="30", Anchor=bad_id)) == []
    assert crm(client, "GetProxyAddress", bad_id, ChannelType="sms").status_code == 403  # no worker document, no number
    assert details(client, "ada", worker=bad_id).status_code == 403


def test_phone_search_reads_national_numbers_in_the_configured_region(client, store, settings_env):
    settings_env(DEFAULT_REGION="GB")
    store.upsert("brit", {"display_name": "Brit", "channels": [{"type": "sms", "value": "+447700900123"}], "worker": ALICE})
    found = listed(customers_list(client, PageSize="30", Query="07700 900123"))
    assert [c["customer_id"] for c in found] == ["brit"]


def test_a_hung_firestore_cannot_hold_a_callback_past_the_deadline(client, settings_env, capsys):
    from tests.test_conversation_add import BlackHole

    hole = BlackHole()
    settings_env(FIRESTORE_EMULATOR_HOST=hole.host_port, WEBHOOK_DEADLINE_S="1.0")
    try:
        started = time.monotonic()
        response = customers_list(client, PageSize="30")
        elapsed = time.monotonic() - started
    finally:
        hole.close()
    # A store fault is ours and passing: 503 (retry later), one line saying which read, logged at ERROR.
    assert response.status_code == 503
    assert response.get_json() == {"error": "customer list took longer than the 1.00s deadline"}
    assert elapsed < 1.0 + 0.5, f"answered after {elapsed:.2f}s, deadline 1.0s"
    assert messages(json_logs(capsys.readouterr().out), "ERROR") == ["rejected: customer list took longer than the 1.00s deadline"]
