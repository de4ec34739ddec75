"""GetCustomersList end to end: signed form POSTs → real Firestore emulator → Frontline's
list shape. Paging with the anchor, PageSize, name-prefix and phone-number search."""

from __future__ import annotations

import random

import pytest

from handlers.frontline_shapes import DEFAULT_PAGE_SIZE, MAX_PAGE_SIZE
from tests.conftest import json_logs
from tests.frontline_people import ADA, ALICE, BOB, CAROL, customers_list, error_of, listed


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


def test_phone_search_reads_national_numbers_in_the_configured_region(client, store, settings_env):
    settings_env(DEFAULT_REGION="GB")
    store.upsert("brit", {"display_name": "Brit", "channels": [{"type": "sms", "value": "+447700900123"}], "worker": ALICE})
    found = listed(customers_list(client, PageSize="30", Query="07700 900123"))
    assert [c["customer_id"] for c in found] == ["brit"]


# --- GetCustomersList: missing Worker -------------------------------------------------------------

def test_customers_list_without_worker_is_400(client, people):
    response = customers_list(client, worker=None, PageSize="30")
    assert response.status_code == 400
    assert error_of(response) == "missing required field: Worker"
