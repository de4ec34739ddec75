"""Pure rules for the message webhooks: opt-out keywords, who wrote a message, whose conversation it is."""

from __future__ import annotations

import re
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from typing import Any

from handlers.conversation_shapes import parse_attributes
from handlers.form import Form
from store.addresses import address_key

# Twilio's standard SMS keywords (its carrier-level opt-out answers the same words).
OPT_OUT_KEYWORDS = frozenset({"stop", "stopall", "unsubscribe", "cancel", "end", "quit"})
OPT_IN_KEYWORDS = frozenset({"start", "yes", "unstop"})
# `Source` of a message written in an app (Frontline uses the Conversations SDK) or over REST;
# any other source (SMS, WHATSAPP...) is a messaging channel, where customers write from.
APP_SOURCES = frozenset({"sdk", "api"})
CONVERSATION_SID = re.compile(r"^CH[0-9a-fA-F]{32}$")


@dataclass(frozen=True)
class CustomerParticipant:
    """A participant with a messaging address and no chat identity; `customer_id` once known."""

    sid: str
    address: str
    customer_id: str | None = None


def opt_out_choice(body: str | None) -> bool | None:
    """True when the whole body is an opt-out keyword, False for an opt-in one, None for anything else.

    Case and surrounding whitespace do not matter; a keyword inside a longer message is not one.
    """
    word = (body or "").strip().casefold()
    if word in OPT_OUT_KEYWORDS:
        return True
    if word in OPT_IN_KEYWORDS:
        return False
    return None


def is_from_messaging_channel(form: Form) -> bool:
    """True when `Source` names a messaging channel (SMS, WhatsApp...): a customer wrote it."""
    source = (form.get("Source") or "").strip().casefold()
    return bool(source) and source not in APP_SOURCES


def conversation_sid_of(form: Form) -> str | None:
    sid = (form.get("ConversationSid") or "").strip()
    return sid if CONVERSATION_SID.match(sid) else None


def customer_participants(participants: Iterable[Any]) -> list[CustomerParticipant]:
    """The customers among a conversation's participants (anything with `sid`, `identity`, `address`,
    `attributes`), with the `customer_id` onParticipantAdded wrote on them, if any."""
    customers = []
    for participant in participants:
        if not participant.address or (participant.identity or "").strip():
            continue
        customer_id = (parse_attributes(participant.attributes) or {}).get("customer_id")
        customers.append(CustomerParticipant(participant.sid, participant.address,
                                             str(customer_id).strip() if isinstance(customer_id, (str, int)) and str(customer_id).strip() else None))
    return customers


def is_customer_author(form: Form, customers: Sequence[CustomerParticipant], default_region: str) -> bool:
    """True when the message's author is one of the customers: by participant sid, else by address."""
    participant_sid = (form.get("ParticipantSid") or "").strip()
    if participant_sid and any(customer.sid == participant_sid for customer in customers):
        return True
    author = (form.get("Author") or "").strip()
    author_key = address_key(author, default_region) if author else None
    return author_key is not None and any(address_key(customer.address, default_region) == author_key for customer in customers)


def opted_out_on(changed_at: object) -> str:
    """" on 2026-11-26" from the stored time of the choice; "" when there is none."""
    return f" on {changed_at[:10]}" if isinstance(changed_at, str) and changed_at.strip() else ""


def opt_out_reason(changed_at: str | None) -> str:
    """The one line a worker sees when their message is refused."""
    return f"This customer opted out of messages{opted_out_on(changed_at)} (they texted STOP). They must text START before you can message them."
