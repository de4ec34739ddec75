"""Admit a request or turn it away, in the order the design fixes: method, size, signature, shape.

Nothing here touches Firestore or Twilio, so a forged or oversized request costs us only
the bytes we read before refusing it.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import TYPE_CHECKING
from urllib.parse import parse_qsl

from werkzeug.datastructures import MultiDict

from runtime.config import Settings
from web.replies import Reply, reject
from web.signature import is_signed_by_twilio

if TYPE_CHECKING:
    from flask import Request

ALLOWED_METHODS = ("POST", "GET")
FORM_CONTENT_TYPE = "application/x-www-form-urlencoded"


@dataclass(frozen=True)
class Admitted:
    """The form of a request that passed every check: what handlers receive (`handlers.form.Form`)."""

    params: MultiDict[str, str]


def _read_body(request: Request, limit: int) -> bytes | None:
    """The body, or None when it is over `limit` bytes (read at most limit + 1 to know)."""
    declared = request.content_length
    if declared is not None and declared > limit:
        return None
    body = request.stream.read(limit + 1)
    return None if len(body) > limit else body


def _is_form(request: Request) -> bool:
    return (request.mimetype or FORM_CONTENT_TYPE) == FORM_CONTENT_TYPE


def _form_params(body: bytes) -> MultiDict[str, str]:
    return MultiDict(parse_qsl(body.decode("utf-8", errors="replace"), keep_blank_values=True))


def admit(request: Request, settings: Settings) -> Admitted | Reply:
    if request.method not in ALLOWED_METHODS:
        return reject(405, f"method {request.method} not allowed; use POST or GET", Allow=", ".join(ALLOWED_METHODS))
    body = _read_body(request, settings.max_body_bytes)
    if body is None:
        return reject(413, f"request body over {settings.max_body_bytes} bytes")
    if request.method == "GET":
        # Twilio signs a GET by its URL alone; the parameters are in the query string.
        signed: Mapping[str, str] = {}
        params = MultiDict(parse_qsl(request.query_string.decode("utf-8", errors="replace"), keep_blank_values=True))
    else:
        params = _form_params(body) if _is_form(request) else MultiDict[str, str]()
        signed = params
    if not request.headers.get("X-Twilio-Signature"):
        return reject(403, "missing X-Twilio-Signature header")
    if not is_signed_by_twilio(request, signed, settings.auth_token, settings.public_url):
        return reject(403, "invalid X-Twilio-Signature")
    if request.method == "POST" and body and not _is_form(request):
        return reject(400, f"body must be {FORM_CONTENT_TYPE}")
    return Admitted(params)
