"""Message webhooks: a customer's STOP / START (onMessageAdded, post-event) is recorded on their
profile, and a worker's message to a customer who opted out (onMessageAdd, pre-event) is refused.

Refusing is the one 4xx a pre-event answers on purpose. Every fault of ours (Firestore or
Twilio slow or down) lets the message through with an ERROR line: Twilio's own SMS opt-out
handling stays the carrier-level safety net, so a missed check never blocks a conversation.
"""

from __future__ import annotations

import dataclasses

from gateways import twilio_rest
from handlers.form import Form
from handlers.message_shapes import (
    CustomerParticipant,
    conversation_sid_of,
    customer_participants,
    is_customer_author,
    is_from_messaging_channel,
    opt_out_choice,
    opt_out_reason,
)
from runtime import logs
from runtime.cache import BoundedCache
from runtime.config import settings
from runtime.deadline import Deadline
from runtime.errors import OptedOut, StoreUnavailable, TwilioFailed
from store.lookup import find_customer, find_customers
from store.opt_out import opt_out_states, record_opt_out

# Which customers a conversation has does not change once they are known, so a worker's
# messages after the first cost one Firestore read, not a Twilio call as well. The opt-out
# state itself is never cached: a STOP must count from the next message on.
_customers_by_conversation: BoundedCache[str, tuple[CustomerParticipant, ...]] = BoundedCache(max_entries=2048, max_age_s=600)
# The participant list may wait on Twilio's retries; the opt-out read needs the rest.
_TWILIO_SHARE = 0.6


def on_message_added(form: Form, deadline: Deadline) -> dict[str, str]:
    opting_out = opt_out_choice(form.get("Body"))
    if opting_out is None:
        return {}
    choice = "opt-out" if opting_out else "opt-in"
    if not is_from_messaging_channel(form):
        logs.info(f"{choice} keyword written in an app, not by a customer; nothing recorded")
        return {}
    author = (form.get("Author") or "").strip()
    logs.add_request_fields(address=logs.mask_address(author))
    try:
        card = find_customer(author, deadline) if author else None
        if card is None:
            logs.info(f"{choice} keyword from an address no customer has; nothing recorded")
            return {}
        recorded = record_opt_out(card.customer_id, opting_out, deadline)
    except StoreUnavailable as failure:
        logs.error(f"{failure.reason}; the customer's {choice} was not recorded")
        return {}
    outcome = {"written": "customer opted out" if opting_out else "customer opted back in",
               "unchanged": f"{choice} already recorded", "no profile": "customer profile is gone; nothing recorded"}[recorded]
    logs.info(outcome, customer_id=card.customer_id)
    return {}


def _customers_in(conversation_sid: str, deadline: Deadline) -> tuple[CustomerParticipant, ...]:
    """The conversation's customer participants with their customer ids where a profile has them."""
    cached = _customers_by_conversation.get(conversation_sid)
    if cached is not None:
        return cached
    listed = twilio_rest.list_participants(settings(), conversation_sid, deadline.share(_TWILIO_SHARE))
    customers = customer_participants(listed)
    unnamed = [customer.address for customer in customers if not customer.customer_id]
    if unnamed:
        found = find_customers(unnamed, deadline)
        if found.failures:
            raise next(iter(found.failures.values()))
        customers = [customer if customer.customer_id else
                     dataclasses.replace(customer, customer_id=(card.customer_id if (card := found.cards.get(customer.address)) else None))
                     for customer in customers]
    known = tuple(customers)
    if known and all(customer.customer_id for customer in known):
        # Only complete answers: a customer imported later must be found on the next message.
        _customers_by_conversation.put(conversation_sid, known)
    return known


def on_message_add(form: Form, deadline: Deadline) -> dict[str, str]:
    if is_from_messaging_channel(form):
        return {}  # the customer's own message: opting out never stops them writing
    conversation_sid = conversation_sid_of(form)
    if conversation_sid is None:
        logs.warning("no usable ConversationSid; message passed without an opt-out check")
        return {}
    try:
        customers = _customers_in(conversation_sid, deadline)
        if is_customer_author(form, customers, settings().default_region):
            return {}
        customer_ids = [customer.customer_id for customer in customers if customer.customer_id]
        states = opt_out_states(customer_ids, deadline) if customer_ids else {}
    except (StoreUnavailable, TwilioFailed) as failure:
        logs.error(f"{failure.reason}; opt-out state unknown, message passed")
        return {}
    opted_out = [(customer_id, state) for customer_id, state in states.items() if state.opted_out]
    if not opted_out:
        if not customer_ids:
            logs.info("no known customer in this conversation; message passed")
        return {}
    customer_id, state = opted_out[0]
    logs.add_request_fields(customer_id=customer_id)
    raise OptedOut(opt_out_reason(state.changed_at))


HANDLERS = {
    "onMessageAdd": on_message_add,
    "onMessageAdded": on_message_added,
}
