"""The Firestore client: created on first use, once per instance, shared by every thread.

Importing google-cloud-firestore and finding credentials cost hundreds of milliseconds and
no gRPC deadline bounds them, so a caller with a deadline waits for the first creation on a
pool thread and gives up at its deadline (the creation goes on, for the next request).
Every Firestore failure leaves this package as `StoreUnavailable`, never as gRPC's types.
"""

from __future__ import annotations

import os
import threading
from collections.abc import Callable, Iterator
from concurrent.futures import ThreadPoolExecutor
from concurrent.futures import TimeoutError as FutureTimeout
from contextlib import contextmanager
from typing import TYPE_CHECKING, Any, TypeVar

from runtime.errors import StoreUnavailable

if TYPE_CHECKING:
    from google.cloud.firestore import Client

    from runtime.deadline import Deadline

_lock = threading.Lock()
_instances: dict[tuple[str, ...], Any] = {}
_creation_pool = ThreadPoolExecutor(max_workers=1, thread_name_prefix="firestore-client")

T = TypeVar("T")

def load_library() -> None:
    """Import google-cloud-firestore now, without making a client (main.py calls this at import).

    functions-framework's CLI, which the Cloud Functions runtime runs, imports main in gunicorn's
    master before it opens the port and forks the worker: the import then happens while the
    instance starts, not inside its first webhook's deadline, and an instance started ahead of
    its first webhook (MIN_INSTANCES) answers it without it (bench/README.md, cold-start ideas).
    The client is still made after the fork, on first use: a gRPC channel must not cross a fork.
    """
    from google.cloud import firestore  # noqa: F401


def emulator_host() -> str:
    """FIRESTORE_EMULATOR_HOST as the client library reads it ("" in production)."""
    return os.environ.get("FIRESTORE_EMULATOR_HOST", "")


def _create(key: tuple[str, ...], make: Callable[[], T]) -> T:
    with _lock:
        made = _instances.get(key)
        if made is None:
            made = _instances[key] = make()
    return made


def once_per_instance(key: tuple[str, ...], make: Callable[[], T], deadline: Deadline | None = None) -> T:
    """`make()`'s result, created once per instance and key; with a deadline, StoreUnavailable if not ready in time.

    Keyed by the emulator host too (callers put it in `key`): a test or a local run that moves
    the emulator gets a fresh channel.
    """
    made = _instances.get(key)
    if made is not None:
        return made
    if deadline is None:
        return _create(key, make)
    remaining = deadline.remaining()
    if remaining <= 0:
        raise StoreUnavailable("deadline reached before Firestore was reached")
    future = _creation_pool.submit(_create, key, make)
    try:
        return future.result(timeout=remaining)
    except FutureTimeout:
        raise StoreUnavailable(f"Firestore client not ready within {remaining:.2f}s") from None
    except StoreUnavailable:
        raise
    except Exception as error:  # noqa: BLE001 - credentials or import faults: the store is unavailable
        raise StoreUnavailable(f"Firestore client could not be created: {type(error).__name__}") from error


def forget_instances(kind: str) -> None:
    """Drop every instance whose key starts with `kind` (the next use creates a new one)."""
    with _lock:
        for key in [key for key in _instances if key[0] == kind]:
            del _instances[key]


def _high_level_client(project: str) -> Client:
    from google.cloud import firestore

    return firestore.Client(project=project or None)


def firestore_client(project: str, deadline: Deadline | None = None) -> Client:
    """This instance's google-cloud-firestore client (tools, writes, Frontline lists); bounded like `once_per_instance`."""
    return once_per_instance(("client", project, emulator_host()), lambda: _high_level_client(project), deadline)


def call_options(deadline: Deadline | None) -> dict[str, Any]:
    """Keyword arguments for one read: the time the request has left, and no library retries inside it."""
    if deadline is None:
        return {}
    return {"timeout": max(deadline.remaining(), 0.001), "retry": None}


def _describe(error: Exception) -> str:
    # The type and gRPC code only: a library's message can carry document paths (full phone numbers).
    code = getattr(error, "grpc_status_code", None) or getattr(error, "code", None)
    name = getattr(code, "name", None)
    return type(error).__name__ + (f" ({name})" if isinstance(name, str) else "")


@contextmanager
def store_errors(what: str, deadline: Deadline | None = None) -> Iterator[None]:
    """Turn any Firestore or gRPC failure inside the block into StoreUnavailable naming `what`."""
    try:
        yield
    except StoreUnavailable:
        raise
    except Exception as error:  # noqa: BLE001 - only Firestore calls run inside; none may leak gRPC's types
        from google.api_core import exceptions as google_errors

        underlying = error.__cause__ or error.__context__
        if isinstance(error, ValueError) and isinstance(underlying, google_errors.GoogleAPIError):
            # A transaction hides the gRPC failure behind a ValueError: all attempts lost to concurrent
            # writers (raised from Aborted), or its rollback failed after a failed begin (in its context).
            raise StoreUnavailable(f"{what} failed: {_describe(underlying)}") from error
        if not isinstance(error, (google_errors.GoogleAPIError, TimeoutError, ConnectionError)):
            raise
        if isinstance(error, google_errors.DeadlineExceeded) and deadline is not None:
            raise StoreUnavailable(f"{what} took longer than the {deadline.seconds:.2f}s deadline") from error
        raise StoreUnavailable(f"{what} failed: {_describe(error)}") from error
