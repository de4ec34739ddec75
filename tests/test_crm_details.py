"""GetCustomerDetailsByCustomerId end to end: signed form POSTs → real Firestore emulator →
Frontline's customer shape, and who may see which customer."""

from __future__ import annotations

import pytest

from tests.frontline_people import ALICE, BOB, details, error_of


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
