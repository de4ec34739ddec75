"""Our own errors: every failure that crosses a layer does so as one of these.

Each carries the HTTP status it means and a one-line reason that is safe to show the caller
(no library messages, no full phone numbers). `main.py` alone turns them into replies.
"""

from __future__ import annotations


class AppError(Exception):
    """Root of our errors; `status` is what the entry point answers, `reason` its one line."""

    status = 500

    def __init__(self, reason: str) -> None:
        super().__init__(reason)
        self.reason = reason


class BadRequest(AppError):
    """A request we cannot answer as asked: a missing or malformed field."""

    status = 400


class BadEvent(AppError):
    """A CloudEvent the trigger cannot read: delivering it again would not help."""

    status = 400


class UnknownCustomer(AppError):
    status = 404


class ForeignCustomer(AppError):
    """The customer exists but belongs to another worker (the reference backend's 403)."""

    status = 403


class NoProxyAddress(AppError):
    status = 403


class OptedOut(AppError):
    """A message to a customer who opted out: the onMessageAdd refusal, its reason shown to the worker.

    403: understood and refused until the customer opts back in; any 4xx makes Twilio drop
    the message (a pre-event's action is not taken).
    """

    status = 403


class UnsupportedLocation(AppError):
    status = 422


class StoreUnavailable(AppError):
    """Firestore did not answer in time or failed; the caller decides whether to fail open."""

    status = 503


class TwilioFailed(AppError):
    """A Twilio REST call that did not succeed; never retried by the caller."""

    status = 502


class TwilioUnavailable(TwilioFailed):
    """Twilio did not accept the call within the deadline and the retry budget."""


class TwilioRefused(TwilioFailed):
    """Twilio refused the call for good (401/403/400…): a configuration fault for the operator."""
