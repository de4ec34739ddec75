"""Frontline CRM callback: a worker's customer list and one customer's details."""

from __future__ import annotations

from typing import Any

from handlers.frontline_shapes import BadCallback, customer_details, customer_summary, page_size_of, required
from runtime import logs
from runtime.deadline import Deadline
from store.addresses import is_phone_number
from store.directory import MAX_NAME_PREFIX_BYTES, Directory, default_directory, fits_name_prefix
from web.replies import Reply, reject


def get_customers_list(params: Any, deadline: Deadline) -> Reply:
    worker = required(params, "Worker")
    page_size = page_size_of(params.get("PageSize"))
    anchor = (params.get("Anchor") or "").strip() or None
    query = (params.get("Query") or "").strip()
    directory = default_directory(deadline)
    if query and is_phone_number(query, directory.default_region):
        found = None if anchor else directory.customer_by_address(query)
        page = [found] if found and directory.is_visible(found[1], worker) else []
    else:
        if query and not fits_name_prefix(query):
            raise BadCallback(f"Query is over {MAX_NAME_PREFIX_BYTES} bytes")
        page = directory.customers_page(worker, page_size, anchor, name_prefix=query or None)
        if page is None:
            logs.warning("anchor customer no longer exists; list ends here")
            page = []
    customers = [customer_summary(customer_id, profile) for customer_id, profile in page]
    return Reply(200, {"objects": {"customers": customers}})


def visible_customer(params: Any, directory: Directory) -> tuple[str, str, dict[str, Any]] | Reply:
    """(worker, customer_id, profile) for the asking worker, or the 404/403 that refuses it."""
    worker = required(params, "Worker")
    customer_id = required(params, "CustomerId")
    profile = directory.customer(customer_id)
    if profile is None:
        return reject(404, f"no customer {customer_id[:100]!r}")
    if not directory.is_visible(profile, worker):
        return reject(403, f"customer {customer_id[:100]!r} belongs to another worker")
    return worker, customer_id, profile


def get_customer_details(params: Any, deadline: Deadline) -> Reply:
    found = visible_customer(params, default_directory(deadline))
    if isinstance(found, Reply):
        return found
    _, customer_id, profile = found
    return Reply(200, {"objects": {"customer": customer_details(customer_id, profile)}})


HANDLERS = {
    "GetCustomersList": get_customers_list,
    "GetCustomerDetailsByCustomerId": get_customer_details,
}
