"""Is this request really from Twilio? Rebuild the URL Twilio signed and check its HMAC.

Cloud Functions terminates TLS in front of Flask, so the scheme comes from
X-Forwarded-Proto; where the platform also rewrites host or path (1st gen drops the
function name), PUBLIC_URL names what Twilio actually called.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import TYPE_CHECKING

from twilio.request_validator import RequestValidator

if TYPE_CHECKING:
    from flask import Request


def _forwarded_scheme(request: Request) -> str:
    forwarded = request.headers.get("X-Forwarded-Proto", "")
    return forwarded.split(",")[0].strip().lower() or request.scheme


def _query_suffix(request: Request) -> str:
    query = request.query_string.decode("latin-1")
    return f"?{query}" if query else ""


def signed_url_candidates(request: Request, public_url: str) -> list[str]:
    """The URL(s) Twilio may have signed for this request, most likely first."""
    path = request.script_root + request.path
    if public_url:
        base = public_url.rstrip("/")
    else:
        base = f"{_forwarded_scheme(request)}://{request.headers.get('Host', request.host)}"
    if path in ("", "/"):
        # Twilio may be configured with or without the trailing slash; both reach this function at "/".
        return [base + "/" + _query_suffix(request), base + _query_suffix(request)]
    return [base + path + _query_suffix(request)]


def is_signed_by_twilio(request: Request, signed_params: Mapping[str, str], auth_token: str, public_url: str) -> bool:
    signature = request.headers.get("X-Twilio-Signature", "")
    if not signature:
        return False
    validator = RequestValidator(auth_token)
    return any(_validates(validator, url, signed_params, signature) for url in signed_url_candidates(request, public_url))


def _validates(validator: RequestValidator, url: str, signed_params: Mapping[str, str], signature: str) -> bool:
    # The validator parses the URL to try it with and without a port; a Host header that is not
    # a valid host[:port] (`x:abc`, `x:99999`, `[::1`) makes that parse raise. Twilio never
    # sends such a Host, so the request is simply not Twilio's: a 403, not a 500.
    try:
        return validator.validate(url, signed_params, signature)
    except ValueError:
        return False
