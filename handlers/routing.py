"""Frontline custom routing: add the customer's worker (or the default one) to a new conversation."""

from __future__ import annotations

from typing import Any

from gateways import twilio_rest
from handlers.conversation_shapes import GroupAddress, customer_address
from handlers.frontline_shapes import required
from runtime import logs
from runtime.config import settings
from runtime.deadline import Deadline
from store.directory import default_directory
from web.replies import Reply


def _worker_for(address: str | None, deadline: Deadline) -> str:
    if address and not isinstance(address, GroupAddress):
        found = default_directory(deadline).customer_by_address(address)
        if found and found[1].get("worker"):
            return found[1]["worker"]
    return settings().default_worker


def route_conversation(params: Any, deadline: Deadline) -> Reply:
    conversation_sid = required(params, "ConversationSid")
    address = customer_address(params)
    logs.add_request_fields(address=logs.mask_address(address or ""))
    worker = _worker_for(address, deadline)
    if not worker:
        logs.warning("no worker for this customer and no DEFAULT_WORKER; conversation left unrouted")
        return Reply(200, {})
    try:
        added = twilio_rest.add_chat_participant(settings(), conversation_sid, worker, deadline)
    except twilio_rest.TwilioUnavailable as failure:
        logs.error(f"gave up routing: {failure}")
        return Reply(200, {})
    logs.info("worker added to conversation" if added else "worker already in conversation", worker=worker)
    return Reply(200, {})
