"""Frontline templates callback: template categories filled in for one customer."""

from __future__ import annotations

from typing import Any

from handlers.crm import visible_customer
from handlers.frontline_shapes import rendered_categories, template_values
from runtime.deadline import Deadline
from store.directory import default_directory
from web.replies import Reply


def get_templates(params: Any, deadline: Deadline) -> Reply:
    # The same 404/403 as the details callback: templates carry the customer's name.
    directory = default_directory(deadline)
    found = visible_customer(params, directory)
    if isinstance(found, Reply):
        return found
    worker, customer_id, customer = found
    values = template_values(customer_id, customer, worker, directory.worker(worker))
    return Reply(200, rendered_categories(directory.template_categories(), values))


HANDLERS = {"GetTemplatesByCustomerId": get_templates}
