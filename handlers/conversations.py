"""Conversations webhooks: onConversationAdd (pre-event) and onParticipantAdded (post-event).

A Group MMS onConversationAdd (several addresses) is named after the people in it, their
lookups run side by side within the same deadline.

A pre-event answered 4xx/5xx drops the customer's message, so every fault of ours here
ends in a 200 with the best answer we have by the deadline.
"""

from __future__ import annotations

import json

from gateways import twilio_rest
from handlers.conversation_shapes import (
    GroupAddress,
    conversation_add_reply,
    customer_address,
    group_friendly_name,
    group_members,
    is_customer_participant,
    merge_participant_attributes,
    parse_attributes,
)
from handlers.form import Form
from runtime import logs
from runtime.config import settings
from runtime.deadline import Deadline
from runtime.errors import BadRequest, StoreUnavailable, TwilioFailed
from store.lookup import find_customer, find_customers
from store.profiles import CustomerCard


def _names_one_customer(address: str) -> bool:
    """Put the masked address in the log context; False for a Group MMS list, which names no one customer."""
    logs.add_request_fields(address=logs.mask_address(address))
    if isinstance(address, GroupAddress):
        logs.info("group address list; no customer lookup")
        return False
    return True


def _name_group(address: GroupAddress, deadline: Deadline) -> dict[str, str]:
    """Name a Group MMS conversation from the people in it; attributes stay as they are."""
    members = group_members(address)
    found = find_customers(members, deadline)
    if found.failures:
        reason = next(iter(found.failures.values())).reason
        logs.error(f"{reason}; {len(found.failures)} of {len(members)} group addresses shown as they are")
    name = group_friendly_name(members, found.cards)
    if name is None:
        logs.info("nobody in the group is a known customer; conversation created unchanged", members=len(members))
        return {}
    logs.info("group conversation named from profiles", members=len(members),
              known=sum(1 for member in members if found.cards.get(member)))
    return {"friendly_name": name}


def on_conversation_add(form: Form, deadline: Deadline) -> dict[str, str]:
    address = customer_address(form)
    if address is None:
        logs.info("no customer address; conversation created unchanged")
        return {}
    logs.add_request_fields(address=logs.mask_address(address))
    if isinstance(address, GroupAddress):
        return _name_group(address, deadline)
    try:
        card = find_customer(address, deadline)
    except StoreUnavailable as failure:
        logs.error(f"{failure.reason}; answering with the address as friendly_name")
        return {"friendly_name": address}
    # On the request's own "request done" line: one line per webhook, not two, on the busiest path.
    logs.add_request_fields(outcome="conversation named from profile" if card else "no customer for address",
                            customer_id=card.customer_id if card else None)
    return conversation_add_reply(address, card, form.get("Attributes"))


def _required_sids(form: Form) -> tuple[str, str]:
    conversation_sid, participant_sid = form.get("ConversationSid", "").strip(), form.get("ParticipantSid", "").strip()
    missing = [name for name, value in (("ConversationSid", conversation_sid), ("ParticipantSid", participant_sid)) if not value]
    if missing:
        raise BadRequest(f"missing required field(s): {', '.join(missing)}")
    return conversation_sid, participant_sid


def on_participant_added(form: Form, deadline: Deadline) -> dict[str, str]:
    address = customer_address(form)
    if address is None or not is_customer_participant(form):
        logs.info("not a customer participant; nothing to write")
        return {}
    one_customer = _names_one_customer(address)
    conversation_sid, participant_sid = _required_sids(form)
    if not one_customer:
        return {}
    try:
        card = find_customer(address, deadline)
    except StoreUnavailable as failure:
        logs.error(f"{failure.reason}; participant attributes not written")
        return {}
    if card is None:
        logs.info("no customer for address; participant attributes not written")
        return {}
    _write_profile_attributes(conversation_sid, participant_sid, card, deadline)
    return {}


def _write_profile_attributes(conversation_sid: str, participant_sid: str, card: CustomerCard, deadline: Deadline) -> None:
    current = settings()
    try:
        participant = twilio_rest.fetch_participant(current, conversation_sid, participant_sid, deadline)
        existing = parse_attributes(participant.attributes)
        if existing is None:
            logs.warning("participant attributes are not a JSON object; left unchanged", customer_id=card.customer_id)
            return
        merged = merge_participant_attributes(existing, card)
        if merged == existing:
            logs.info("participant attributes already up to date", customer_id=card.customer_id)
            return
        twilio_rest.update_participant_attributes(current, conversation_sid, participant_sid, json.dumps(merged, ensure_ascii=False), deadline)
        logs.info("participant attributes written", customer_id=card.customer_id)
    except TwilioFailed as failure:
        # Post-event: the answer changes nothing, so a Twilio fault (or a refused credential) is logged for the operator.
        logs.error(f"gave up: {failure.reason}", customer_id=card.customer_id)


HANDLERS = {
    "onConversationAdd": on_conversation_add,
    "onParticipantAdded": on_participant_added,
}
