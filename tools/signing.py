"""A webhook as Twilio sends it: the form encoding and the `X-Twilio-Signature` over it.

The one signer behind the tests (`tests/conftest.py`), `tools.send_sample` and `tools.doctor`:
a list value is Twilio's repeated parameter (`Filters=a&Filters=b`), encoded and signed the
same way, so a form that reaches the function is the form that was signed.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import TYPE_CHECKING, Union
from urllib.parse import urlencode

if TYPE_CHECKING:
    import requests

FormValue = Union[str, Sequence[str]]
Form = Mapping[str, FormValue]
FORM_CONTENT_TYPE = "application/x-www-form-urlencoded"


def form_pairs(params: Form | Sequence[tuple[str, str]]) -> list[tuple[str, str]]:
    """(name, value) pairs in order; a list or tuple value becomes one pair per item. Pairs pass through."""
    if not isinstance(params, Mapping):
        return list(params)
    pairs: list[tuple[str, str]] = []
    for name, values in params.items():
        pairs += [(name, value) for value in values] if isinstance(values, (list, tuple)) else [(name, str(values))]
    return pairs


def encode_form(params: Form | Sequence[tuple[str, str]]) -> str:
    return urlencode(form_pairs(params))


def sign(url: str, params: Form | Sequence[tuple[str, str]], token: str) -> str:
    """Twilio's signature of a POST to `url` with `params`, each value of a repeated parameter signed."""
    from twilio.request_validator import RequestValidator
    from werkzeug.datastructures import MultiDict

    return RequestValidator(token).compute_signature(url, MultiDict(form_pairs(params)))


def signed_headers(url: str, params: Form, token: str) -> dict[str, str]:
    return {"X-Twilio-Signature": sign(url, params, token), "Content-Type": FORM_CONTENT_TYPE}


def post_signed(url: str, params: Form, token: str, *, timeout: float, headers: Mapping[str, str] | None = None) -> requests.Response:
    """POST `params` to `url` signed with `token`, exactly as Twilio would."""
    import requests

    return requests.post(url, data=encode_form(params), headers={**signed_headers(url, params, token), **(headers or {})}, timeout=timeout)
