"""The customer's opt-out: read for a worker's message, written when the customer texts STOP or START.

Both are bounded by the webhook's deadline and fail as `StoreUnavailable`. The write touches
only the two opt-out fields of `customers/{id}` (never `sort_name`, `worker` or a channel), so
the index has nothing to follow and a Firestore trigger that re-derives the index finds no work.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from datetime import datetime, timezone
from typing import TYPE_CHECKING, Literal

from runtime.config import store_settings
from store.addresses import is_document_id
from store.client import call_options, firestore_client, store_errors
from store.profiles import OPT_OUT_FIELDS, OPTED_OUT_CHANGED_AT_FIELD, OPTED_OUT_FIELD

if TYPE_CHECKING:
    from runtime.deadline import Deadline

Recorded = Literal["written", "unchanged", "no profile"]


@dataclass(frozen=True)
class OptOut:
    opted_out: bool
    changed_at: str | None = None


def _state(data: dict | None) -> OptOut:
    data = data or {}
    changed_at = data.get(OPTED_OUT_CHANGED_AT_FIELD)
    return OptOut(data.get(OPTED_OUT_FIELD) is True, changed_at if isinstance(changed_at, str) else None)


def opt_out_states(customer_ids: Iterable[str], deadline: Deadline) -> dict[str, OptOut]:
    """The opt-out state of each existing customer among `customer_ids`, in one batched read."""
    wanted = [cid for cid in dict.fromkeys(customer_ids) if is_document_id(cid)]
    if not wanted:
        return {}
    current = store_settings()
    db = firestore_client(current.project, deadline)
    refs = [db.collection(current.customers_collection).document(cid) for cid in wanted]
    with store_errors("opt-out read", deadline):
        snapshots = list(db.get_all(refs, field_paths=list(OPT_OUT_FIELDS), **call_options(deadline)))
    return {snapshot.id: _state(snapshot.to_dict()) for snapshot in snapshots if snapshot.exists}


def now_iso() -> str:
    return datetime.now(timezone.utc).strftime("%Y-%m-%dT%H:%M:%SZ")


def record_opt_out(customer_id: str, opted_out: bool, deadline: Deadline, at: str | None = None) -> Recorded:
    """Set the customer's choice; written only when it changes, so a repeated STOP keeps the first time."""
    if not is_document_id(customer_id):
        return "no profile"
    current = store_settings()
    db = firestore_client(current.project, deadline)
    ref = db.collection(current.customers_collection).document(customer_id)
    with store_errors("opt-out write", deadline):
        snapshot = ref.get(field_paths=list(OPT_OUT_FIELDS), **call_options(deadline))
        if not snapshot.exists:
            return "no profile"
        if _state(snapshot.to_dict()).opted_out == opted_out:
            return "unchanged"
        # update(), not set(): every other field stays as it is, and a profile deleted meanwhile is not re-created.
        ref.update({OPTED_OUT_FIELD: opted_out, OPTED_OUT_CHANGED_AT_FIELD: at or now_iso()}, **call_options(deadline))
    return "written"
