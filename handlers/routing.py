"""Frontline custom routing: add the customer's worker (or the default one) to a new conversation."""

from __future__ import annotations

from typing import Any

from gateways import twilio_rest
from handlers.conversation_shapes import GroupAddress, customer_address
from handlers.form import Form
from handlers.frontline_shapes import required
from runtime import logs
from runtime.config import settings
from runtime.deadline import Deadline
from runtime.errors import StoreUnavailable, TwilioFailed
from store.directory import default_directory


def _worker_for(address: str | None, deadline: Deadline) -> str:
    if address and not isinstance(address, GroupAddress):
        try:
            # Half the budget at most, so a hung Firestore still leaves time to add the default worker.
            found = default_directory(deadline.share(0.5)).customer_by_address(address)
        except StoreUnavailable as failure:
            # A conversation routed to the default worker is answered; an unrouted one waits for nobody.
            logs.error(f"{failure.reason}; routing to DEFAULT_WORKER")
            found = None
        owner = found[1].get("worker") if found else None
        if isinstance(owner, str) and owner.strip():
            return owner.strip()
    return settings().default_worker


def route_conversation(params: Form, deadline: Deadline) -> dict[str, Any]:
    conversation_sid = required(params, "ConversationSid")
    address = customer_address(params)
    logs.add_request_fields(address=logs.mask_address(address or ""))
    worker = _worker_for(address, deadline)
    if not worker:
        logs.warning("no worker for this customer and no DEFAULT_WORKER; conversation left unrouted")
        return {}
    try:
        added = twilio_rest.add_chat_participant(settings(), conversation_sid, worker, deadline)
    except TwilioFailed as failure:
        # Like onParticipantAdded: Twilio's answer to us changes nothing, so the operator reads the ERROR line.
        logs.error(f"gave up routing: {failure.reason}")
        return {}
    logs.info("worker added to conversation" if added else "worker already in conversation", worker=worker)
    return {}
