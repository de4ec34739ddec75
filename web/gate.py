"""Admit a request or turn it away, in the order the design fixes: method, size, signature, shape.

Nothing here touches Firestore or Twilio, and every limit that bounds our own work (URL length,
body size and arrival time, number of form fields) is checked before the signature, so a forged
or oversized request costs us only the bytes we read before refusing it.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import TYPE_CHECKING
from urllib.parse import parse_qsl

from werkzeug.datastructures import MultiDict
from werkzeug.exceptions import ClientDisconnected

from runtime.config import Settings
from runtime.deadline import Deadline
from web.connection import reads_bounded
from web.replies import Reply, reject
from web.signature import is_signed_by_twilio

if TYPE_CHECKING:
    from flask import Request

ALLOWED_METHODS = ("POST", "GET")
FORM_CONTENT_TYPE = "application/x-www-form-urlencoded"
# Twilio's largest webhook (onMessageAdd) carries about 30 fields; a Group MMS address list adds
# at most 10. Parsing and signing cost grows with the field count, so refuse far more than that
# before doing either: 50,000 empty fields took ~370 ms of one thread to reach a 403.
MAX_FORM_FIELDS = 200
# Paths are the ones configured at Twilio ("/", "/crm", a function name on 1st gen). gunicorn's
# own default caps a request line at 4,094 bytes; functions-framework lifts that cap, so we keep one.
MAX_PATH_BYTES = 8192


@dataclass(frozen=True)
class Admitted:
    """The form of a request that passed every check: what handlers receive (`handlers.form.Form`)."""

    params: MultiDict[str, str]


def _url_too_long(request: Request, settings: Settings) -> Reply | None:
    environ = request.environ
    # WSGI strings are bytes decoded as latin-1: their length is the byte count.
    path_bytes = len(environ.get("SCRIPT_NAME", "")) + len(environ.get("PATH_INFO", ""))
    if path_bytes > MAX_PATH_BYTES:
        return reject(414, f"URL path over {MAX_PATH_BYTES} bytes", close=True)
    # A GET webhook carries its fields in the query string: it gets the body's budget.
    if len(request.query_string) > settings.max_body_bytes:
        return reject(414, f"query string over {settings.max_body_bytes} bytes", close=True)
    return None


def _read_body(request: Request, limit: int, deadline: Deadline) -> bytes | Reply:
    """The body, or the refusal: over `limit` bytes (by its declared length, before reading any
    of it), or not arrived by the request's deadline."""
    declared = request.content_length
    if declared is not None and declared > limit:
        return reject(413, f"request body over {limit} bytes", close=True)
    seconds = deadline.remaining()
    with reads_bounded(request.environ, seconds) as cutoff:
        try:
            body = request.stream.read(limit + 1)
        except (OSError, ClientDisconnected):
            body = None  # the client went away mid-body
    if cutoff.fired:
        return reject(408, f"request body not received within {seconds:.1f}s", close=True)
    if body is None or (declared is not None and len(body) < declared):
        return reject(400, "request body ended before its Content-Length", close=True)
    if len(body) > limit:
        return reject(413, f"request body over {limit} bytes", close=True)
    return body


def _too_many_fields(encoded: bytes) -> Reply | None:
    # parse_qsl splits on "&" only, so this counts its fields without parsing anything.
    if encoded.count(b"&") >= MAX_FORM_FIELDS:
        return reject(413, f"request has over {MAX_FORM_FIELDS} form fields")
    return None


def _is_form(request: Request) -> bool:
    return (request.mimetype or FORM_CONTENT_TYPE) == FORM_CONTENT_TYPE


def _form_params(encoded: bytes) -> MultiDict[str, str]:
    return MultiDict(parse_qsl(encoded.decode("utf-8", errors="replace"), keep_blank_values=True))


def admit(request: Request, settings: Settings, deadline: Deadline) -> Admitted | Reply:
    if request.method not in ALLOWED_METHODS:
        return reject(405, f"method {request.method} not allowed; use POST or GET", close=True, Allow=", ".join(ALLOWED_METHODS))
    refused = _url_too_long(request, settings)
    if refused:
        return refused
    body = _read_body(request, settings.max_body_bytes, deadline)
    if isinstance(body, Reply):
        return body
    # Twilio signs a GET by its URL alone; the parameters are in the query string.
    encoded = request.query_string if request.method == "GET" else body if _is_form(request) else b""
    refused = _too_many_fields(encoded)
    if refused:
        return refused
    params = _form_params(encoded)
    signed: Mapping[str, str] = params if request.method == "POST" else {}
    if not request.headers.get("X-Twilio-Signature"):
        return reject(403, "missing X-Twilio-Signature header")
    if not is_signed_by_twilio(request, signed, settings.auth_token, settings.public_url):
        return reject(403, "invalid X-Twilio-Signature")
    if request.method == "POST" and body and not _is_form(request):
        return reject(400, f"body must be {FORM_CONTENT_TYPE}")
    return Admitted(params)
