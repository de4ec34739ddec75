"""Is this request really from Twilio? Rebuild the URL Twilio signed and check its HMAC.

Cloud Functions terminates TLS in front of Flask, so the scheme comes from
X-Forwarded-Proto; where the platform also rewrites host or path (1st gen drops the
function name), PUBLIC_URL names what Twilio actually called.
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping
from operator import itemgetter
from typing import TYPE_CHECKING
from urllib.parse import urlparse

from twilio.request_validator import RequestValidator, add_port, compare, remove_port
from werkzeug.datastructures import MultiDict

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


def signed_params_text(validator: RequestValidator, params: Mapping[str, str]) -> str:
    """What RequestValidator.compute_signature appends to the URL: each parameter name followed by
    each of its distinct values, names and values sorted (the library's own loop, built once)."""
    # A MultiDict hands over each name's values at once; the library's get_values would first try
    # (and fail with an exception) a getall() for every name, and the text is the same.
    values_by_name = params.lists() if isinstance(params, MultiDict) else ((name, validator.get_values(params, name)) for name in set(params))
    return "".join(name + value for name, values in sorted(values_by_name, key=itemgetter(0)) for value in sorted(set(values)))


def _port_spellings(url: str) -> Iterator[str]:
    # As RequestValidator.validate does: Twilio may have signed the URL with or without its port.
    # A Host that is not a valid host[:port] (`x:abc`, `x:99999`, `[::1`) makes that parse raise;
    # Twilio never sends such a Host, so the request is simply not Twilio's: a 403, not a 500.
    try:
        parsed = urlparse(url)
        spellings = (remove_port(parsed), add_port(parsed))
    except ValueError:
        return
    yield from spellings


def _urls_to_try(candidates: list[str]) -> Iterator[str]:
    """validate()'s URLs for each candidate, the one that is the URL as requested first.

    Twilio signs the URL it called, so that spelling usually matches at the first HMAC. A URL that
    is neither of its spellings (one urlparse rewrites or cannot parse) is never tried as it stands.
    """
    for url in candidates:
        spellings = list(dict.fromkeys(_port_spellings(url)))
        yield from sorted(spellings, key=lambda spelling: spelling != url)


def is_signed_by_twilio(request: Request, signed_params: Mapping[str, str], auth_token: str, public_url: str) -> bool:
    """RequestValidator.validate over every candidate URL, with the parameter text built once.

    validate() rebuilds it (and parses the URL's query) for each port spelling of each URL, up to
    four times a request; an unsigned 256 KiB body was signed four times before its 403.
    """
    signature = request.headers.get("X-Twilio-Signature", "")
    if not signature:
        return False
    validator = RequestValidator(auth_token)
    params_text = signed_params_text(validator, signed_params) if signed_params else ""
    return any(compare(validator.compute_signature(url + params_text, None), signature)
               for url in _urls_to_try(signed_url_candidates(request, public_url)))
