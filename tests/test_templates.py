"""GetTemplatesByCustomerId end to end: template categories in the Firestore emulator,
rendered for the customer and the worker, in category order."""

from __future__ import annotations

from tests.frontline_people import CAROL, error_of, get_templates


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
