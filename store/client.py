"""The Firestore client: created on first use, once per instance, shared by every thread.

Importing google-cloud-firestore costs hundreds of milliseconds, so it happens here, off
the cold-start path, and only when a request first needs the database.
"""

from __future__ import annotations

import os
import threading
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from google.cloud.firestore import Client

_lock = threading.Lock()
_clients: dict[tuple[str, str], Client] = {}


def _key(project: str) -> tuple[str, str]:
    # Keyed by emulator host too: a test (or a local run) that moves the emulator gets a fresh channel.
    return (project, os.environ.get("FIRESTORE_EMULATOR_HOST", ""))


def firestore_client_ready(project: str) -> bool:
    """Whether `firestore_client(project)` exists already, so using it costs no import and no credential lookup."""
    return _key(project) in _clients


def firestore_client(project: str) -> Client:
    key = _key(project)
    client = _clients.get(key)
    if client is None:
        with _lock:
            client = _clients.get(key)
            if client is None:
                from google.cloud import firestore

                client = firestore.Client(project=project or None)
                _clients[key] = client
    return client
