"""Pure shapes of the Frontline callbacks' answers (field names are Frontline's, camelCase included)."""

from __future__ import annotations

import re
from collections.abc import Mapping, Sequence
from typing import Any

from handlers.form import Form
from runtime.errors import BadRequest
from store.profiles import StoredProfile

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
    owner = owner.strip() if isinstance(owner, str) else ""
    return owner == worker or (owner == "" and unassigned_visible)


def customer_summary(customer_id: str, profile: StoredProfile) -> dict[str, Any]:
    return {"customer_id": customer_id, "display_name": profile.get("display_name", ""), "avatar": profile.get("avatar")}


def customer_details(customer_id: str, profile: StoredProfile) -> dict[str, Any]:
    return {
        **customer_summary(customer_id, profile),
        "channels": [{"type": c.get("type"), "value": c.get("value")} for c in profile.get("channels") or []],
        "links": list(profile.get("links") or []),
        "details": dict(profile.get("details") or {}),
    }


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
