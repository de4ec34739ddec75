"""Pure rules for the Conversations webhooks: no I/O, so every case is a plain unit test."""

from __future__ import annotations

import json
from collections.abc import Mapping
from typing import Any

from handlers.form import Form
from store.profiles import CustomerCard

PROFILE_ATTRIBUTE_KEYS = ("customer_id", "display_name", "avatar")


class GroupAddress(str):
    """A Group MMS address list: it names several people, so it never matches one customer."""


def customer_address(form: Form) -> str | None:
    """The customer's address from `MessagingBinding.Address`, a GroupAddress for a list, or None."""
    values = [v for v in form.getlist("MessagingBinding.Address") if v.strip()]
    if not values:
        return None
    if len(values) > 1:
        return GroupAddress(",".join(values))
    value = values[0].strip()
    if value.startswith("["):
        return GroupAddress(value)
    return value


def is_customer_participant(form: Form) -> bool:
    return customer_address(form) is not None and not (form.get("Identity") or "").strip()


def parse_attributes(raw: str | None) -> dict[str, Any] | None:
    """Attributes as a dict; {} when absent; None when they are not a JSON object (leave them alone)."""
    if raw is None or not raw.strip():
        return {}
    try:
        value = json.loads(raw)
    except (ValueError, RecursionError):  # RecursionError: nested deeper than the parser allows
        return None
    return value if isinstance(value, dict) else None


def conversation_add_reply(address: str, card: CustomerCard | None, raw_attributes: str | None) -> dict[str, str]:
    """The pre-event answer: name the conversation, and add the avatar without touching other keys."""
    reply = {"friendly_name": card.display_name if card and card.display_name else address}
    attributes = parse_attributes(raw_attributes)
    if card and card.avatar and attributes is not None and not attributes.get("avatar"):
        reply["attributes"] = json.dumps({**attributes, "avatar": card.avatar}, ensure_ascii=False)
    return reply


def merge_participant_attributes(existing: Mapping[str, Any], card: CustomerCard) -> dict[str, Any]:
    """Existing non-empty profile keys win, the profile fills the gaps, every other key is kept."""
    merged = dict(existing)
    profile_values = {"customer_id": card.customer_id, "display_name": card.display_name, "avatar": card.avatar}
    for key in PROFILE_ATTRIBUTE_KEYS:
        if merged.get(key) in (None, "") and profile_values[key]:
            merged[key] = profile_values[key]
    return merged
