"""Frontline templates callback: template categories filled in for one customer."""

from __future__ import annotations

from typing import Any

from handlers.frontline_shapes import required, rendered_categories, template_values
from runtime.deadline import Deadline
from store.directory import default_directory
from web.replies import Reply, reject


def get_templates(params: Any, _deadline: Deadline) -> Reply:
    worker = required(params, "Worker")
    customer_id = required(params, "CustomerId")
    directory = default_directory()
    customer = directory.customer(customer_id)
    if customer is None:
        return reject(404, f"no customer {customer_id[:100]!r}")
    values = template_values(customer_id, customer, worker, directory.worker(worker))
    return Reply(200, rendered_categories(directory.template_categories(), values))


HANDLERS = {"GetTemplatesByCustomerId": get_templates}
