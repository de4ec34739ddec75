"""Cloud Function entry point: admit the request, route it to its handler, answer JSON.

Deploy with `--entry-point frontline_webhook`. Handlers return a JSON body or raise one of
our errors (`runtime/errors.py`); this module alone turns either into a reply. The Firestore
and Twilio clients are created by `store/` and `gateways/` on first use, not at import, to
keep cold starts short.
"""

from __future__ import annotations

import json
import os
from collections.abc import Callable, Mapping
from typing import Any

from flask import Request, Response

from handlers import conversations, crm, outgoing, routing, templates
from handlers.form import Form
from runtime import logs
from runtime.config import ConfigError, log_level_from_environ, settings
from runtime.deadline import Deadline
from runtime.errors import AppError, BadRequest, UnsupportedLocation
from web.gate import Admitted, admit
from web.replies import Reply, reject

Handler = Callable[[Form, Deadline], Any]

WEBHOOK_TARGET = "frontline_webhook"

try:
    # functions-framework names the entry point it serves in FUNCTION_TARGET before importing us.
    # The webhook cannot verify a signature without Twilio's settings: a missing one stops it here.
    if os.environ.get("FUNCTION_TARGET", WEBHOOK_TARGET) == WEBHOOK_TARGET:
        settings()
    logs.set_level(log_level_from_environ(os.environ))
except ConfigError as startup_error:
    logs.error(f"cannot start: {startup_error}")
    raise

# Frontline callbacks by `Location`; a path suffix (/crm, /outgoing, /templates) narrows it
# to one family, for deployments that give each callback its own URL.
LOCATIONS_BY_FAMILY: dict[str, Mapping[str, Handler]] = {"crm": crm.HANDLERS, "outgoing": outgoing.HANDLERS, "templates": templates.HANDLERS}
ALL_LOCATIONS = {location: handler for family in LOCATIONS_BY_FAMILY.values() for location, handler in family.items()}


def _is_pre_event(event_type: str) -> bool:
    # Twilio names pre-events in the present (onMessageAdd) and post-events in the past (onMessageAdded).
    return not event_type.endswith("ed")


def _trace(request: Request) -> str | None:
    header = request.headers.get("X-Cloud-Trace-Context", "")
    trace_id = header.split("/")[0].strip()
    project = settings().project
    return f"projects/{project}/traces/{trace_id}" if trace_id and project else None


def _route_conversations(params: Form, deadline: Deadline) -> Any:
    event_type = params.get("EventType", "").strip()
    if not event_type:
        raise BadRequest("missing required field: EventType")
    handler = conversations.HANDLERS.get(event_type)
    if handler is None:
        logs.warning(f"unhandled EventType {event_type!r}; answered 200 so no conversation is blocked")
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


def _handle(params: Form, path: str, deadline: Deadline) -> Reply:
    event_type = params.get("EventType", "")
    logs.add_request_fields(event_type=event_type or params.get("Location"))
    try:
        return Reply(200, _route(params, path, deadline))
    except AppError as refused:
        if event_type and _is_pre_event(event_type) and refused.status >= 500:
            logs.error(f"{refused.reason}; answered 200 so no conversation is blocked")
            return Reply(200, {})
        return reject(refused.status, refused.reason)
    except Exception as error:  # noqa: BLE001 - last resort: a pre-event must still not block a conversation
        logs.error(f"handler failed: {type(error).__name__}")
        if event_type and _is_pre_event(event_type):
            return Reply(200, {})
        raise


def _respond(reply: Reply) -> Response:
    return Response(json.dumps(reply.body), status=reply.status, headers=reply.headers, mimetype="application/json")


def frontline_webhook(request: Request) -> Response:
    deadline = Deadline(settings().deadline_s)
    token = logs.bind_request(**{"logging.googleapis.com/trace": _trace(request), "path": request.path})
    reply = Reply(500, {"error": "internal error"})
    try:
        outcome = admit(request, settings())
        if isinstance(outcome, Admitted):
            reply = _handle(outcome.params, request.path, deadline)
        else:
            reply = outcome
    except Exception as error:  # noqa: BLE001 - never a stack trace in a response
        logs.error(f"request failed: {type(error).__name__}")
    try:
        return _respond(reply)
    finally:
        logs.info("request done", status=reply.status, duration_ms=deadline.elapsed_ms())
        logs.unbind_request(token)
