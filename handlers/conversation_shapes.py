"""Pure rules for the Conversations webhooks: no I/O, so every case is a plain unit test."""

from __future__ import annotations

import json
from collections.abc import Mapping
from typing import Any

from handlers.form import Form
from store.profiles import CustomerCard

PROFILE_ATTRIBUTE_KEYS = ("customer_id", "display_name", "avatar")
# A group conversation is named after at most this many people, then "+N more".
MAX_NAMES_IN_GROUP = 3
# Twilio's limit for a conversation's friendly_name.
MAX_FRIENDLY_NAME = 256


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


def group_members(address: GroupAddress) -> list[str]:
    """The distinct addresses of a Group MMS list: repeated fields (joined with ","), a JSON
    array, or Twilio's bracketed form `[+1555..., +1555...]`; in order, blanks dropped."""
    text = address.strip()
    values: list[Any] = []
    if text.startswith("["):
        try:
            parsed = json.loads(text)
        except (ValueError, RecursionError):
            parsed = None
        values = parsed if isinstance(parsed, list) else text.strip("[]").split(",")
    else:
        values = text.split(",")
    members = [value.strip().strip('"').strip() for value in values if isinstance(value, str)]
    return list(dict.fromkeys(member for member in members if member))


def group_friendly_name(members: list[str], cards: Mapping[str, CustomerCard | None]) -> str | None:
    """Known customers' names first (each customer once), then the other addresses as they are;
    at most three, then "+N more". None when nobody in the group is known."""
    known: dict[str, str] = {}
    unknown: list[str] = []
    for member in members:
        card = cards.get(member)
        if card is not None and card.display_name:
            known.setdefault(card.customer_id, card.display_name)
        else:
            unknown.append(member)
    if not known:
        return None
    names = list(known.values()) + unknown
    shown = ", ".join(names[:MAX_NAMES_IN_GROUP])
    if len(names) > MAX_NAMES_IN_GROUP:
        shown += f", +{len(names) - MAX_NAMES_IN_GROUP} more"
    return shown if len(shown) <= MAX_FRIENDLY_NAME else shown[:MAX_FRIENDLY_NAME - 1] + "…"


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
