"""Pure shapes of the Frontline callbacks' answers (field names are Frontline's, camelCase included)."""

from __future__ import annotations

import re
from collections.abc import Mapping, Sequence
from typing import Any

from handlers.form import Form
from handlers.message_shapes import opted_out_on
from runtime.errors import BadRequest
from store.profiles import OPTED_OUT_CHANGED_AT_FIELD, OPTED_OUT_FIELD, StoredProfile

DEFAULT_PAGE_SIZE = 30
MAX_PAGE_SIZE = 100
_PLACEHOLDER = re.compile(r"\{\{\s*(\w+)\s*\}\}")


def required(params: Form, name: str) -> str:
    value = (params.get(name) or "").strip()
    if not value:
        raise BadRequest(f"missing required field: {name}")
    return value


def page_size_of(raw: str | None) -> int:
    if raw is None or not raw.strip():
        return DEFAULT_PAGE_SIZE
    try:
        size = int(raw.strip())
    except ValueError:
        raise BadRequest(f"PageSize must be a whole number, got {raw[:40]!r}") from None
    if size < 1:
        raise BadRequest(f"PageSize must be at least 1, got {size}")
    return min(size, MAX_PAGE_SIZE)


def is_visible(profile: StoredProfile, worker: str, unassigned_visible: bool) -> bool:
    """A worker sees their own customers, and unassigned ones when the deployment shares them."""
    owner = profile.get("worker")
    # Ids are text (a number given as an id is stored as its text), so a console-typed `worker: 5`
    # is the worker "5": a malformed owner must not make a customer visible to every worker.
    owner = "" if owner is None else str(owner).strip()
    return owner == worker or (owner == "" and unassigned_visible)


def customer_summary(customer_id: str, profile: StoredProfile) -> dict[str, Any]:
    return {"customer_id": customer_id, "display_name": profile.get("display_name", ""), "avatar": profile.get("avatar")}


def _list_of_objects(value: Any) -> list[Mapping[str, Any]]:
    # A console edit can leave any shape here; what is not a list of objects shows as nothing.
    return [item for item in value if isinstance(item, Mapping)] if isinstance(value, list) else []


def customer_details(customer_id: str, profile: StoredProfile) -> dict[str, Any]:
    return {
        **customer_summary(customer_id, profile),
        "channels": [{"type": c.get("type"), "value": c.get("value")} for c in _list_of_objects(profile.get("channels"))],
        "links": _list_of_objects(profile.get("links")),
        "details": details_with_opt_out(profile),
    }


def details_with_opt_out(profile: Mapping[str, Any]) -> dict[str, Any]:
    """The profile's `details`, led by a line saying the customer opted out when they have, so the
    worker reads it before writing (Frontline shows `details` as one title and one text)."""
    raw = profile.get("details")
    details = dict(raw) if isinstance(raw, Mapping) else {}
    if profile.get(OPTED_OUT_FIELD) is not True:
        return details
    note = f"Opted out of messages{opted_out_on(profile.get(OPTED_OUT_CHANGED_AT_FIELD))} (texted STOP): messages to them are refused until they text START."
    content = str(details.get("content") or "").strip()
    return {**details, "title": details.get("title") or "Opted out", "content": f"{note}\n\n{content}" if content else note}


def proxy_address(channel_type: str, worker: Mapping[str, Any], sms_number: str, whatsapp_number: str) -> str | None:
    """The number a worker texts from: their own in `workers/{identity}`, else the configured one."""
    kind = channel_type.strip().lower()
    if kind == "sms":
        return worker.get("sms_number") or sms_number or None
    if kind == "whatsapp":
        number = worker.get("whatsapp_number") or whatsapp_number
        if not number:
            return None
        return number if number.lower().startswith("whatsapp:") else f"whatsapp:{number}"
    return None


def template_values(customer_id: str, customer: StoredProfile, worker_identity: str, worker: Mapping[str, Any]) -> dict[str, str]:
    name = str(customer.get("display_name") or "")
    return {
        "Name": name,
        "FirstName": name.split()[0] if name.split() else "",
        "CustomerId": customer_id,
        "Author": str(worker.get("display_name") or worker_identity),
    }


def render(content: str, values: Mapping[str, str]) -> str:
    """Fill `{{Key}}` placeholders; an unknown one is left as written, so a typo shows instead of vanishing."""
    return _PLACEHOLDER.sub(lambda match: values.get(match.group(1), match.group(0)), content)


def is_approved(flag: Any) -> bool:
    """A console-typed "false" must not count as approved, as bool("false") would."""
    if isinstance(flag, str):
        return flag.strip().lower() in ("true", "1", "yes")
    return flag is True


def rendered_categories(categories: Sequence[Mapping[str, Any]], values: Mapping[str, str]) -> list[dict[str, Any]]:
    return [
        {
            "display_name": category.get("display_name", ""),
            "templates": [
                {"content": render(str(t.get("content", "")), values), "whatsAppApproved": is_approved(t.get("whatsAppApproved"))}
                for t in category.get("templates") or []
            ],
        }
        for category in categories
    ]
