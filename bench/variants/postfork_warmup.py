"""Cold-start idea, for `python -m bench.run --cold-start-ideas`: main.py (which imports the
Firestore library before the fork) plus a warm-up in the worker right after gunicorn forks it
(os.register_at_fork): a thread creates the Firestore client and reads one document, so the
channel is connected before the first webhook needs it.

Started after the fork, never before it: a client or channel made in the master would be shared
with the worker, and an import still running in a thread at fork time leaves the worker with a
half-initialised module (seen with an earlier warm-up, bench/README.md). Cloud Run's
request-based billing throttles an instance's CPU outside requests, so the bench throttles the
cgroup to 1 % while an instance sits idle before its first request, as Cloud Run would.
"""

import os
import threading

from main import frontline_webhook  # noqa: F401


def _warm_up() -> None:
    from runtime.config import settings
    from store.collections import ADDRESS_INDEX_COLLECTION
    from store.client import firestore_client

    try:
        firestore_client(settings().project).collection(ADDRESS_INDEX_COLLECTION).document("warm-up").get(timeout=5, retry=None)
    except Exception:  # noqa: BLE001 - a failed warm-up leaves the first lookup to connect, as without it
        pass


os.register_at_fork(after_in_child=lambda: threading.Thread(target=_warm_up, name="warm-up", daemon=True).start())
