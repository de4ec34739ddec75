"""Conversations webhooks: onConversationAdd (pre-event) and onParticipantAdded (post-event).

A pre-event answered 4xx/5xx drops the customer's message, so every fault of ours here
ends in a 200 with the best answer we have by the deadline.
"""

from __future__ import annotations

import json
from concurrent.futures import ThreadPoolExecutor
from concurrent.futures import TimeoutError as FutureTimeout
from typing import Any

from gateways import twilio_rest
from handlers.conversation_shapes import (
    GroupAddress,
    conversation_add_reply,
    customer_address,
    is_customer_participant,
    merge_participant_attributes,
    parse_attributes,
)
from runtime import logs
from runtime.config import settings
from runtime.deadline import Deadline
from store.client import firestore_client_ready
from store.customers import default_store
from store.profiles import CustomerCard
from web.replies import Reply, reject

# Lookups that start before this instance's Firestore client exists run on this pool (see _find_customer).
_lookup_pool = ThreadPoolExecutor(max_workers=4, thread_name_prefix="lookup")


class LookupFailed(RuntimeError):
    pass


def _lookup_failed(error: Exception, timeout: float) -> LookupFailed:
    if type(error).__name__ == "DeadlineExceeded":  # google.api_core's, raised when gRPC's deadline passes
        return LookupFailed(f"customer lookup took longer than {timeout:.2f}s")
    # The type and gRPC code only: a library's message can carry document paths (full phone numbers).
    code = getattr(error, "code", None)
    return LookupFailed(f"customer lookup failed: {type(error).__name__}" + (f" ({code})" if isinstance(code, int) else ""))


def _lookup(address: str, timeout: float) -> CustomerCard | None:
    try:
        return default_store().find_by_address(address, timeout=timeout)
    except Exception as error:  # noqa: BLE001 - any store fault is a failed lookup, never a failed webhook
        raise _lookup_failed(error, timeout) from error


def _find_customer(address: str, deadline: Deadline) -> CustomerCard | None:
    remaining = deadline.remaining()
    if remaining <= 0:
        raise LookupFailed("deadline reached before the customer lookup")
    if firestore_client_ready(settings().project):
        # In the request's own thread: the lookup is one gRPC call whose deadline (timeout=remaining)
        # bounds a hung connection. A hop to a pool thread here cost ~0.3 ms a request (bench/README.md).
        return _lookup(address, remaining)
    # The instance's first lookup also creates the client (imports, credentials), which no gRPC
    # deadline bounds: it runs on the pool, and the request stops waiting at its deadline.
    future = _lookup_pool.submit(_lookup, address, remaining)
    try:
        return future.result(timeout=remaining)
    except FutureTimeout:
        raise LookupFailed(f"customer lookup took longer than {remaining:.2f}s") from None


def _names_one_customer(address: str) -> bool:
    """Put the masked address in the log context; False for a Group MMS list, which names no one customer."""
    logs.add_request_fields(address=logs.mask_address(address))
    if isinstance(address, GroupAddress):
        logs.info("group address list; no customer lookup")
        return False
    return True


def on_conversation_add(form: Any, deadline: Deadline) -> Reply:
    address = customer_address(form)
    if address is None:
        logs.info("no customer address; conversation created unchanged")
        return Reply(200, {})
    if not _names_one_customer(address):
        return Reply(200, {})
    try:
        card = _find_customer(address, deadline)
    except LookupFailed as failure:
        logs.error(f"{failure}; answering with the address as friendly_name")
        return Reply(200, {"friendly_name": address})
    reply = conversation_add_reply(address, card, form.get("Attributes"))
    logs.info("conversation named from profile" if card else "no customer for address", customer_id=card.customer_id if card else None)
    return Reply(200, reply)


def on_participant_added(form: Any, deadline: Deadline) -> Reply:
    if not is_customer_participant(form):
        logs.info("not a customer participant; nothing to write")
        return Reply(200, {})
    address = customer_address(form)
    one_customer = _names_one_customer(address)
    conversation_sid, participant_sid = form.get("ConversationSid", "").strip(), form.get("ParticipantSid", "").strip()
    missing = [name for name, value in (("ConversationSid", conversation_sid), ("ParticipantSid", participant_sid)) if not value]
    if missing:
        return reject(400, f"missing required field(s): {', '.join(missing)}")
    if not one_customer:
        return Reply(200, {})
    try:
        card = _find_customer(address, deadline)
    except LookupFailed as failure:
        logs.error(f"{failure}; participant attributes not written")
        return Reply(200, {})
    if card is None:
        logs.info("no customer for address; participant attributes not written")
        return Reply(200, {})
    _write_profile_attributes(conversation_sid, participant_sid, card, deadline)
    return Reply(200, {})


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
    except twilio_rest.TwilioUnavailable as failure:
        logs.error(f"gave up: {failure}", customer_id=card.customer_id)
    except Exception as error:  # noqa: BLE001 - e.g. 401/403: a configuration fault, logged for the operator
        logs.error(f"participant fetch or update refused: {twilio_rest.describe_error(error)}", customer_id=card.customer_id)


HANDLERS = {
    "onConversationAdd": on_conversation_add,
    "onParticipantAdded": on_participant_added,
}
