"""Frontline CRM callback: a worker's customer list and one customer's details."""

from __future__ import annotations

from typing import Any

from handlers.form import Form
from handlers.frontline_shapes import customer_details, customer_summary, is_visible, page_size_of, required
from runtime import logs
from runtime.config import settings
from runtime.deadline import Deadline
from runtime.errors import BadRequest, ForeignCustomer, UnknownCustomer
from store.addresses import is_phone_number
from store.directory import MAX_NAME_PREFIX_BYTES, Directory, default_directory, fits_name_prefix
from store.profiles import StoredProfile


def get_customers_list(params: Form, deadline: Deadline) -> dict[str, Any]:
    worker = required(params, "Worker")
    page_size = page_size_of(params.get("PageSize"))
    anchor = (params.get("Anchor") or "").strip() or None
    query = (params.get("Query") or "").strip()
    unassigned_visible = settings().unassigned_customers_visible
    directory = default_directory(deadline)
    if query and is_phone_number(query, directory.default_region):
        found = None if anchor else directory.customer_by_address(query)
        page = [found] if found and is_visible(found[1], worker, unassigned_visible) else []
    else:
        if query and not fits_name_prefix(query):
            raise BadRequest(f"Query is over {MAX_NAME_PREFIX_BYTES} bytes")
        listed = directory.customers_page(worker, page_size, anchor, name_prefix=query or None, include_unassigned=unassigned_visible)
        if listed is None:
            logs.warning("anchor customer no longer exists; list ends here")
        page = listed or []
    return {"objects": {"customers": [customer_summary(customer_id, profile) for customer_id, profile in page]}}


def visible_customer(params: Form, directory: Directory) -> tuple[str, str, StoredProfile]:
    """(worker, customer_id, profile) for the asking worker; UnknownCustomer or ForeignCustomer otherwise."""
    worker = required(params, "Worker")
    customer_id = required(params, "CustomerId")
    profile = directory.customer(customer_id)
    if profile is None:
        raise UnknownCustomer(f"no customer {customer_id[:100]!r}")
    if not is_visible(profile, worker, settings().unassigned_customers_visible):
        raise ForeignCustomer(f"customer {customer_id[:100]!r} belongs to another worker")
    return worker, customer_id, profile


def get_customer_details(params: Form, deadline: Deadline) -> dict[str, Any]:
    _, customer_id, profile = visible_customer(params, default_directory(deadline))
    return {"objects": {"customer": customer_details(customer_id, profile)}}


HANDLERS = {
    "GetCustomersList": get_customers_list,
    "GetCustomerDetailsByCustomerId": get_customer_details,
}
