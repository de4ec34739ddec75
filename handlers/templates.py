"""Frontline templates callback: template categories filled in for one customer."""

from __future__ import annotations

from typing import Any

from handlers.crm import visible_customer
from handlers.form import Form
from handlers.frontline_shapes import rendered_categories, template_values
from runtime.deadline import Deadline
from store.directory import default_directory


def get_templates(params: Form, deadline: Deadline) -> list[dict[str, Any]]:
    # The same 404/403 as the details callback: templates carry the customer's name.
    directory = default_directory(deadline)
    worker, customer_id, customer = visible_customer(params, directory)
    values = template_values(customer_id, customer, worker, directory.worker(worker))
    return rendered_categories(directory.template_categories(), values)


HANDLERS = {"GetTemplatesByCustomerId": get_templates}
