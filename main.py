"""Cloud Function entry points.

`frontline_webhook` (HTTP, Twilio's webhooks): admit the request, route it to its handler,
answer JSON. Handlers return a JSON body or raise one of our errors (`runtime/errors.py`);
this module alone turns either into a reply.
`customer_written` (CloudEvent, the Firestore trigger on `customers/{id}`): decode the event,
converge that customer's index entries and derived fields, log what it did.
The Firestore and Twilio clients are created by `store/` and `gateways/` on first use, not at
import; only the Firestore library is imported here, before the worker is forked
(`store.client.load_library`).
"""

from __future__ import annotations

import os
import time
from collections.abc import Callable, Mapping
from typing import TYPE_CHECKING, Any

import functions_framework
from flask import Request
from werkzeug.exceptions import ServiceUnavailable

from handlers import conversations, crm, messages, outgoing, routing, templates
from handlers.form import Form
from runtime import logs
from runtime.config import ConfigError, log_level_from_environ, settings, store_settings
from runtime.deadline import Deadline
from runtime.errors import AppError, BadEvent, BadRequest, StoreUnavailable, UnsupportedLocation
from store.client import load_library
from web.gate import Admitted, admit
from web.replies import Reply, http_response, reject

INTERNAL_ERROR = Reply(500, {"error": "internal error"})

if TYPE_CHECKING:
    from store.customers import Convergence

Handler = Callable[[Form, Deadline], Any]

WEBHOOK_TARGET = "frontline_webhook"

try:
    # functions-framework names the entry point it serves in FUNCTION_TARGET before importing us.
    # The webhook cannot verify a signature without Twilio's settings: a missing one stops it here.
    if os.environ.get("FUNCTION_TARGET", WEBHOOK_TARGET) == WEBHOOK_TARGET:
        logs.set_pseudonym_key(settings().auth_token)
    logs.set_level(log_level_from_environ(os.environ))
except ConfigError as startup_error:
    logs.error(f"cannot start: {startup_error}")
    raise

load_library()

# Frontline callbacks by `Location`; a path suffix (/crm, /outgoing, /templates) narrows it
# to one family, for deployments that give each callback its own URL.
LOCATIONS_BY_FAMILY: dict[str, Mapping[str, Handler]] = {"crm": crm.HANDLERS, "outgoing": outgoing.HANDLERS, "templates": templates.HANDLERS}
ALL_LOCATIONS = {location: handler for family in LOCATIONS_BY_FAMILY.values() for location, handler in family.items()}
# Conversations webhooks by `EventType`.
EVENTS: Mapping[str, Handler] = {**conversations.HANDLERS, **messages.HANDLERS}


def _is_pre_event(event_type: str) -> bool:
    # Twilio names pre-events in the present (onMessageAdd) and post-events in the past (onMessageAdded).
    return not event_type.endswith("ed")


def _trace(request: Request) -> str | None:
    trace_id = logs.trace_id_of(request.headers.get("X-Cloud-Trace-Context", ""))
    project = settings().project
    return f"projects/{project}/traces/{trace_id}" if trace_id and project else None


def _route_conversations(params: Form, deadline: Deadline) -> Any:
    event_type = params.get("EventType", "").strip()
    if not event_type:
        raise BadRequest("missing required field: EventType")
    handler = EVENTS.get(event_type)
    if handler is None:
        logs.warning(f"unhandled EventType {logs.clip(event_type)!r}; answered 200 so no conversation is blocked")
        return {}
    return handler(params, deadline)


def _route_location(params: Form, handlers: Mapping[str, Handler], deadline: Deadline) -> Any:
    location = params.get("Location", "").strip()
    if not location:
        raise BadRequest("missing required field: Location")
    handler = handlers.get(location)
    if handler is None:
        raise UnsupportedLocation(f"unsupported Location {location[:100]!r}")
    return handler(params, deadline)


def _route(params: Form, path: str, deadline: Deadline) -> Any:
    family = path.rstrip("/").rsplit("/", 1)[-1]
    if family == "routing":
        return routing.route_conversation(params, deadline)
    if family in LOCATIONS_BY_FAMILY:
        return _route_location(params, LOCATIONS_BY_FAMILY[family], deadline)
    if family == "conversations" or params.get("EventType"):
        return _route_conversations(params, deadline)
    if params.get("Location"):
        return _route_location(params, ALL_LOCATIONS, deadline)
    raise BadRequest("request has neither EventType nor Location")


def _handle(params: Form, path: str, deadline: Deadline, pre_event: bool) -> Reply:
    logs.add_request_fields(event_type=params.get("EventType", "") or params.get("Location"))
    try:
        return Reply(200, _route(params, path, deadline))
    except AppError as refused:
        if pre_event and refused.status >= 500:
            logs.error(f"{refused.reason}; answered 200 so no conversation is blocked")
            return Reply(200, {})
        return reject(refused.status, refused.reason)
    except Exception as error:  # noqa: BLE001 - last resort: a pre-event must still not block a conversation
        logs.error(f"handler failed: {type(error).__name__}")
        if pre_event:
            return Reply(200, {})
        raise


def _answer(request: Request, deadline: Deadline) -> tuple[Reply, Any]:
    """The reply and its HTTP response; serialising is inside the try, so an answer JSON cannot hold
    (a NaN, a type json does not know) is a logged 500 (a pre-event's: 200 {}), never the framework's page."""
    pre_event = False
    try:
        outcome = admit(request, settings(), deadline)
        if not isinstance(outcome, Admitted):
            return outcome, http_response(outcome, request.environ)
        event_type = outcome.params.get("EventType", "").strip()
        pre_event = bool(event_type) and _is_pre_event(event_type)
        reply = _handle(outcome.params, request.path, deadline, pre_event)
        return reply, http_response(reply, request.environ)
    except Exception as error:  # noqa: BLE001 - never a stack trace in a response
        logs.error(f"request failed: {type(error).__name__}")
        fallback = Reply(200, {}) if pre_event else INTERNAL_ERROR
        return fallback, http_response(fallback, request.environ)


def frontline_webhook(request: Request) -> Any:
    deadline = Deadline(settings().deadline_s)
    token = logs.bind_request(**{"logging.googleapis.com/trace": _trace(request), "path": request.path})
    try:
        reply, response = _answer(request, deadline)
        logs.info("request done", status=reply.status, duration_ms=deadline.elapsed_ms())
        return response
    finally:
        logs.unbind_request(token)


def _log_convergence(outcome: Convergence, started: float) -> None:
    for conflict in outcome.conflicts:
        logs.error(f"address {logs.mask_address(conflict.address)} is listed by customers {conflict.owner_id!r} and "
                   f"{conflict.claimant_id!r}; it stays with {conflict.owner_id!r}: remove it from one of the profiles",
                   customer_id=outcome.customer_id)
    if outcome.invalid is not None:
        logs.warning(f"customer {outcome.customer_id!r} has an invalid {outcome.invalid.field or 'profile'}: indexed as it stands, "
                     "sort_name and worker not written; `python -m tools.customers check` says why", customer_id=outcome.customer_id)
    logs.info("customer converged" if outcome.writes else "customer already in step", customer_id=outcome.customer_id,
              exists=outcome.exists, indexed=len(outcome.indexed), removed=len(outcome.removed), derived=list(outcome.derived),
              duration_ms=round((time.monotonic() - started) * 1000, 1))


@functions_framework.cloud_event
def customer_written(cloud_event: Any) -> None:
    """Firestore trigger (google.cloud.firestore.document.v1.written on customers/{customer_id}).

    Returns normally when done or when retrying cannot help (an unreadable event, another
    document, an invalid profile); answers 503 when Firestore failed, so Eventarc delivers the
    event again (`--retry`).
    """
    from store.customers import converge_customer
    from store.events import customer_id_in, document_path

    started = time.monotonic()
    token = logs.bind_request(event_id=cloud_event.get("id"), event_type=cloud_event.get("type"))
    try:
        try:
            path = document_path(cloud_event.data, cloud_event.get("subject"))
        except BadEvent as unreadable:
            logs.error(f"event ignored: {unreadable.reason}")
            return
        collection = store_settings().customers_collection
        customer_id = customer_id_in(path, collection)
        if customer_id is None:
            logs.warning(f"event ignored: {path[:200]!r} is not a profile in {collection!r} (CUSTOMERS_COLLECTION)")
            return
        try:
            outcome = converge_customer(customer_id)
        except StoreUnavailable as failed:
            logs.error(f"{failed.reason}; answered 503 so the event is delivered again", customer_id=customer_id)
            # An HTTP error, not the exception itself: Flask would log its traceback, with gRPC's
            # message (which can name a document, so a phone number), over many lines.
            raise ServiceUnavailable() from None
        _log_convergence(outcome, started)
    finally:
        logs.unbind_request(token)
