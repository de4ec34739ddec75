"""The platform floor for `make bench`: a functions-framework HTTP function that does nothing.

Served exactly like frontline_webhook (gunicorn, one worker, 8 threads, functions-framework's
Flask app), it answers `{}` without reading the form, checking a signature, logging or
touching Firestore: what is left is what every request costs before our code runs.
"""


def floor(request):  # noqa: ARG001 - the request is deliberately ignored
    return "{}", 200, {"Content-Type": "application/json"}
