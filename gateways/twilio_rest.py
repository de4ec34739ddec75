"""Twilio REST through the official client, bounded by the webhook's deadline.

The twilio client has no timeout by default and knows only Twilio's hosts; this module
gives every call a timeout no longer than the time the request has left, sends calls to
`TWILIO_API_BASE_URL` when it is set (local runs, tests), and retries what Twilio says
is worth retrying.
"""

from __future__ import annotations

import contextvars
import random
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, TypeVar

from runtime import logs
from runtime.config import TWILIO_API_DEFAULT_BASE_URL, Settings
from runtime.deadline import Deadline
from runtime.errors import TwilioRefused, TwilioUnavailable

if TYPE_CHECKING:
    from twilio.rest import Client

T = TypeVar("T")

MAX_ATTEMPTS = 5
FIRST_BACKOFF_S = 0.1
MAX_CALL_TIMEOUT_S = 2.0
_RETRYABLE_STATUSES = frozenset({404, 408, 409, 429})

_call_deadline: contextvars.ContextVar[Deadline | None] = contextvars.ContextVar("twilio_call_deadline", default=None)
_retry_after: contextvars.ContextVar[float | None] = contextvars.ContextVar("twilio_retry_after", default=None)

# One client per thread: the twilio client keeps the last response on itself (`last_response`),
# which gunicorn's threads would otherwise overwrite for each other.
_per_thread = threading.local()


def _retry_after_seconds(value: str | None) -> float | None:
    try:
        return max(0.0, float(value)) if value else None
    except ValueError:
        return None  # an HTTP-date; our backoff is shorter than any date Twilio would name


def _make_http_client(base_url: str):
    from twilio.http.http_client import TwilioHttpClient

    class DeadlineHttpClient(TwilioHttpClient):
        def request(self, method, url, params=None, data=None, headers=None, auth=None, timeout=None, allow_redirects=False):
            if base_url != TWILIO_API_DEFAULT_BASE_URL and url.startswith(TWILIO_API_DEFAULT_BASE_URL):
                url = base_url + url[len(TWILIO_API_DEFAULT_BASE_URL):]
            deadline = _call_deadline.get()
            budget = min(timeout or MAX_CALL_TIMEOUT_S, deadline.remaining() if deadline else MAX_CALL_TIMEOUT_S)
            if budget <= 0:
                import requests

                raise requests.Timeout("webhook deadline reached before the call")
            response = super().request(method, url, params, data, headers, auth, budget, allow_redirects)
            _retry_after.set(_retry_after_seconds(response.headers.get("Retry-After")))
            return response

    return DeadlineHttpClient(timeout=MAX_CALL_TIMEOUT_S)


def twilio_client(settings: Settings) -> Client:
    """This thread's client for `settings` (created on its first call in the thread)."""
    key = (settings.account_sid, settings.api_key, settings.api_secret, settings.auth_token, settings.twilio_api_base_url)
    clients: dict[tuple[str, ...], Client] = _per_thread.__dict__.setdefault("clients", {})
    client = clients.get(key)
    if client is None:
        from twilio.rest import Client

        username, password = (settings.api_key, settings.api_secret) if settings.api_key else (settings.account_sid, settings.auth_token)
        client = Client(username, password, account_sid=settings.account_sid, http_client=_make_http_client(settings.twilio_api_base_url))
        clients[key] = client
    return client


def _is_retryable(error: Exception) -> bool:
    import requests
    from twilio.base.exceptions import TwilioRestException

    if isinstance(error, TwilioRestException):
        return error.status in _RETRYABLE_STATUSES or error.status >= 500
    return isinstance(error, (requests.Timeout, requests.ConnectionError))


def describe_error(error: Exception) -> str:
    status = getattr(error, "status", None)
    return f"HTTP {status}" if status else type(error).__name__


def call_with_retries(what: str, call: Callable[[], T], deadline: Deadline) -> T:
    """Run `call` until it succeeds, fails for good (TwilioRefused), runs out of attempts or out of time (TwilioUnavailable)."""
    token = _call_deadline.set(deadline)
    try:
        for attempt in range(1, MAX_ATTEMPTS + 1):
            _retry_after.set(None)
            try:
                return call()
            except Exception as error:  # noqa: BLE001 - classified just below
                if not _is_retryable(error):
                    if isinstance(getattr(error, "status", None), int):  # Twilio answered, and said no for good
                        raise TwilioRefused(f"{what} refused: {describe_error(error)}") from error
                    raise
                backoff = _retry_after.get()
                if backoff is None:
                    backoff = FIRST_BACKOFF_S * 2 ** (attempt - 1) * random.uniform(0.8, 1.2)
                if attempt == MAX_ATTEMPTS or backoff >= deadline.remaining():
                    raise TwilioUnavailable(f"{what} failed after {attempt} attempt(s): {describe_error(error)}") from error
                logs.warning(f"{what} failed, retrying", attempt=attempt, cause=describe_error(error), backoff_ms=round(backoff * 1000))
                time.sleep(backoff)
        raise AssertionError("unreachable")
    finally:
        _call_deadline.reset(token)


@dataclass(frozen=True)
class Participant:
    """The fields of a Conversations participant that the handlers use."""

    sid: str
    conversation_sid: str
    identity: str | None
    attributes: str
    address: str | None = None  # the messaging binding's address: SMS, WhatsApp... customers

    @classmethod
    def of(cls, fetched: Any) -> Participant:
        binding = fetched.messaging_binding if isinstance(fetched.messaging_binding, dict) else {}
        address = binding.get("address")
        return cls(fetched.sid, fetched.conversation_sid, fetched.identity, fetched.attributes or "{}",
                   address if isinstance(address, str) and address.strip() else None)


def fetch_participant(settings: Settings, conversation_sid: str, participant_sid: str, deadline: Deadline) -> Participant:
    resource = twilio_client(settings).conversations.v1.conversations(conversation_sid).participants(participant_sid)
    return Participant.of(call_with_retries("participant fetch", resource.fetch, deadline))


# One page: a Frontline conversation has its customer and a few workers, never near this many.
PARTICIPANTS_PAGE = 100


def list_participants(settings: Settings, conversation_sid: str, deadline: Deadline) -> list[Participant]:
    """The conversation's participants (its first page of 100), in one request."""
    from twilio.base.exceptions import TwilioException, TwilioRestException

    participants = twilio_client(settings).conversations.v1.conversations(conversation_sid).participants

    def first_page() -> list[Any]:
        try:
            return list(participants.page(page_size=PARTICIPANTS_PAGE))
        except TwilioRestException:
            raise
        except TwilioException as error:
            # A list page answered non-200 raises the bare TwilioException with the response in
            # its args, not a TwilioRestException: give it its status, so it is classified like one.
            status = getattr(error.args[1] if len(error.args) > 1 else None, "status_code", None)
            if not isinstance(status, int):
                raise
            raise TwilioRestException(status, f"/v1/Conversations/{conversation_sid}/Participants", msg="participant list answered non-200",
                                      method="GET") from error

    return [Participant.of(participant) for participant in call_with_retries("participant list", first_page, deadline)]


def update_participant_attributes(settings: Settings, conversation_sid: str, participant_sid: str, attributes: str, deadline: Deadline) -> None:
    # Sent without X-Twilio-Webhook-Enabled, so this write does not trigger another webhook.
    resource = twilio_client(settings).conversations.v1.conversations(conversation_sid).participants(participant_sid)
    call_with_retries("participant update", lambda: resource.update(attributes=attributes), deadline)


PARTICIPANT_EXISTS_CODE = 50433


def add_chat_participant(settings: Settings, conversation_sid: str, identity: str, deadline: Deadline) -> bool:
    """Add `identity` to the conversation; False (not an error) when it is already there."""
    from twilio.base.exceptions import TwilioRestException

    participants = twilio_client(settings).conversations.v1.conversations(conversation_sid).participants

    def create() -> bool:
        try:
            participants.create(identity=identity)
        except TwilioRestException as error:
            if error.status == 409 or error.code == PARTICIPANT_EXISTS_CODE:
                return False
            raise
        return True

    return call_with_retries("participant create", create, deadline)
