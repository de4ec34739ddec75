"""The admin write path: customer profiles and their address index, always written together.

Two writers, one planner (`_index_writes`): the data tool writes profiles and their entries
in one transaction (`upsert`, `upsert_many`), and the Firestore trigger converges the index
and the derived fields to a profile someone else wrote (`converge`). The function's webhooks
read through `store.lookup` and `store.directory`. Only `check --fix` writes plain batches.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Iterable, Iterator, Mapping
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, Literal

from runtime.errors import AppError
from store.client import store_errors
from store.collections import ADDRESS_INDEX_COLLECTION
from store.lookup import card_for_address
from store.profiles import (BatchClaims, CustomerCard, InvalidProfile, card_of, customer_id_of, derived_updates, index_keys,
                            stored_index_keys, validate_profile, with_kept_opt_out)

if TYPE_CHECKING:
    from google.cloud.firestore import Client, DocumentReference, Transaction


class AddressConflict(AppError, ValueError):
    """An address that already belongs to another customer."""

    status = 409

    def __init__(self, address: str, owner_id: str, claimant_id: str) -> None:
        super().__init__(f"address {address} already belongs to customer {owner_id}; customer {claimant_id} cannot claim it")
        self.address = address
        self.owner_id = owner_id
        self.claimant_id = claimant_id


class AddressConflicts(AppError, ValueError):
    """Every address of one upsert_many call that Firestore already gives to another customer."""

    status = 409

    def __init__(self, conflicts: list[AddressConflict]) -> None:
        more = f" (and {len(conflicts) - 1} more)" if len(conflicts) > 1 else ""
        super().__init__(f"{conflicts[0]}{more}")
        self.conflicts = conflicts


# Firestore's documented ceiling for one commit; every batched write here stays at or under it.
MAX_WRITES_PER_COMMIT = 500
# Attempts of converge's transaction when a read loses a lock to another writer (then Eventarc retries).
CONVERGE_ATTEMPTS = 3
# Profiles per read round when previewing outside a transaction.
_READ_CHUNK = 500

Outcome = Literal["created", "updated", "unchanged"]


@dataclass(frozen=True)
class UpsertResult:
    customer_id: str
    outcome: Outcome
    # Profile fields that differ from what was stored, plus "index" when index entries were (re)written.
    changed: tuple[str, ...] = ()


@dataclass(frozen=True)
class _Item:
    customer_id: str
    profile: dict[str, Any]
    keys: frozenset[str]


@dataclass
class _Plan:
    result: UpsertResult
    sets: list[tuple[DocumentReference, dict[str, Any]]] = field(default_factory=list)
    deletes: list[DocumentReference] = field(default_factory=list)
    conflicts: list[AddressConflict] = field(default_factory=list)

    @property
    def writes(self) -> int:
        return len(self.sets) + len(self.deletes)


@dataclass(frozen=True)
class Convergence:
    """What converging one customer found and wrote (address keys and field names, for the log)."""

    customer_id: str
    exists: bool
    indexed: tuple[str, ...] = ()
    removed: tuple[str, ...] = ()
    derived: tuple[str, ...] = ()
    conflicts: tuple[AddressConflict, ...] = ()
    invalid: InvalidProfile | None = None

    @property
    def writes(self) -> int:
        return len(self.indexed) + len(self.removed) + (1 if self.derived else 0)


@dataclass
class IndexRepair:
    """Writes that bring the index (and the store-owned profile fields) back in line with `customers`."""

    index_sets: dict[str, dict[str, Any]] = field(default_factory=dict)
    index_deletes: list[str] = field(default_factory=list)
    profile_updates: dict[str, dict[str, Any]] = field(default_factory=dict)

    @property
    def writes(self) -> int:
        return len(self.index_sets) + len(self.index_deletes) + len(self.profile_updates)


def _changed_fields(old: Mapping[str, Any] | None, new: Mapping[str, Any]) -> tuple[str, ...]:
    old = old or {}
    return tuple(sorted(name for name in old.keys() | new.keys() if old.get(name) != new.get(name)))


def fitting_prefix(write_counts: list[int], limit: int = MAX_WRITES_PER_COMMIT) -> int:
    """How many leading items fit in one commit of `limit` writes; always at least one, so work advances."""
    total = 0
    for taken, count in enumerate(write_counts):
        total += count
        if total > limit:
            return max(taken, 1)
    return len(write_counts)


class CustomerStore:
    def __init__(self, db: Client, customers_collection: str = "customers", default_region: str = "US") -> None:
        self._db = db
        self._customers = customers_collection
        self._region = default_region

    @property
    def default_region(self) -> str:
        return self._region

    def _customer_ref(self, customer_id: str):
        return self._db.collection(self._customers).document(customer_id)

    def _index_ref(self, key: str):
        return self._db.collection(ADDRESS_INDEX_COLLECTION).document(key)

    def find_by_address(self, address: str) -> CustomerCard | None:
        """The webhooks' own lookup (one index get), for tools and checks."""
        return card_for_address(self._db, address, self._region)

    def get(self, customer_id: str) -> dict[str, Any] | None:
        snapshot = self._customer_ref(customer_id_of(customer_id)).get()
        return snapshot.to_dict() if snapshot.exists else None

    def upsert(self, customer_id: Any, profile: Mapping[str, Any]) -> str:
        """Write one profile and make the index match its channels, in one transaction; returns the stored id.

        The same rules as upsert_many: every address is checked against its current owner (not
        only the new ones, as a console edit may have left the stored profile stale), and only
        entries that still point at this customer are removed.
        """
        item = self._validated([(customer_id, profile)])[0]
        self._commit([item])
        return item.customer_id

    def delete(self, customer_id: Any) -> bool:
        """Remove a profile and every index entry pointing at it; False when there was nothing to delete."""
        from google.cloud import firestore
        from google.cloud.firestore_v1.base_query import FieldFilter

        cid = customer_id_of(customer_id)
        # By owner, not by the stored channels: a console edit may have dropped a channel whose entry remains.
        owned_entries = self._db.collection(ADDRESS_INDEX_COLLECTION).where(filter=FieldFilter("customer_id", "==", cid))

        @firestore.transactional
        def remove(transaction: Transaction) -> bool:
            old = self._customer_ref(cid).get(transaction=transaction)
            if not old.exists:
                return False
            # Firestore transactions need every read before the first write.
            entries = list(transaction.get(owned_entries))
            for entry in entries:
                transaction.delete(entry.reference)
            transaction.delete(self._customer_ref(cid))
            return True

        return remove(self._db.transaction())

    def upsert_many(self, profiles: Iterable[tuple[Any, Mapping[str, Any]]], *, dry_run: bool = False,
                    on_progress: Callable[[str, int, int], None] | None = None) -> list[UpsertResult]:
        """Upsert many profiles with upsert's rules, in commits of at most 500 writes, skipping unchanged ones.

        Nothing is written unless every profile is valid, no two share an id or an address, and
        no address belongs to another customer in Firestore (AddressConflicts lists them all).
        One read of the stored profiles (get_all, outside any transaction) sorts them into
        created / updated / unchanged; unchanged ones (equal to the stored profile) cost nothing
        more, the others' index entries are read to find conflicts.
        Each commit of the others is a transaction that reads its profiles and entries again, so
        a concurrent writer cannot slip an address claim in between check and write (that race
        raises AddressConflict; commits before it stay, and re-running is safe).
        `on_progress(stage, done, total)` is called after each read round and each commit.
        """
        items = self._validated(profiles)
        plans = self._preview(items, on_progress)
        conflicts = [conflict for plan in plans for conflict in plan.conflicts]
        if conflicts:
            raise AddressConflicts(conflicts)
        results = {item.customer_id: plan.result for item, plan in zip(items, plans, strict=True)}
        if not dry_run:
            # Unchanged when read is a no-op at that moment; a later write by someone else simply
            # comes after this import, so those profiles need no transaction.
            changed = [item for item in items if results[item.customer_id].outcome != "unchanged"]
            for result in self._commit_all(changed, on_progress):
                results[result.customer_id] = result
        return [results[item.customer_id] for item in items]

    def _validated(self, profiles: Iterable[tuple[Any, Mapping[str, Any]]]) -> list[_Item]:
        claims = BatchClaims(self._region)
        items = []
        for position, (customer_id, profile) in enumerate(profiles, 1):
            cid = customer_id_of(customer_id)
            try:
                clean = validate_profile(profile, self._region)
                claims.claim(f"item {position}", cid, clean)
            except InvalidProfile as error:
                raise InvalidProfile(f"customer {cid!r}: {error}", error.field) from None
            keys = frozenset(index_keys(clean, self._region))
            if 1 + len(keys) > MAX_WRITES_PER_COMMIT:
                raise InvalidProfile(f"customer {cid!r}: {len(keys)} addresses do not fit in one commit")
            items.append(_Item(cid, clean, keys))
        return items

    def _preview(self, items: list[_Item], on_progress: Callable[[str, int, int], None] | None) -> list[_Plan]:
        plans: list[_Plan] = []
        for start in range(0, len(items), _READ_CHUNK):
            plans += self._plans(items[start:start + _READ_CHUNK], None, trust_unchanged=True)
            if on_progress:
                on_progress("checking", len(plans), len(items))
        return plans

    def _commit_all(self, items: list[_Item], on_progress: Callable[[str, int, int], None] | None) -> list[UpsertResult]:
        results: list[UpsertResult] = []
        while len(results) < len(items):
            results += self._commit(self._window(items, len(results)))
            if on_progress:
                on_progress("writing", len(results), len(items))
        return results

    @staticmethod
    def _window(items: list[_Item], start: int) -> list[_Item]:
        # Sized by the fewest writes a changed item needs (profile + its entries); _commit trims
        # the window when deletions of old entries make a commit larger than that.
        return items[start:start + fitting_prefix([1 + len(item.keys) for item in items[start:start + MAX_WRITES_PER_COMMIT]])]

    def _commit(self, window: list[_Item]) -> list[UpsertResult]:
        from google.cloud import firestore

        @firestore.transactional
        def plan_and_write(transaction: Transaction) -> list[UpsertResult]:
            plans = self._plans(window, transaction)
            plans = plans[:fitting_prefix([plan.writes for plan in plans])]
            for plan in plans:
                if plan.conflicts:
                    raise plan.conflicts[0]
                for ref, data in plan.sets:
                    transaction.set(ref, data)
                for ref in plan.deletes:
                    transaction.delete(ref)
            return [plan.result for plan in plans]

        return plan_and_write(self._db.transaction())

    def _plans(self, window: list[_Item], transaction: Transaction | None, trust_unchanged: bool = False) -> list[_Plan]:
        # Firestore transactions need every read before the first write: all of them happen here.
        stored = self._get_all([self._customer_ref(item.customer_id) for item in window], transaction)
        window = [_Item(item.customer_id, with_kept_opt_out(item.profile, stored.get(item.customer_id)), item.keys) for item in window]
        # A profile equal to the stored one had its index entries written with it by this store,
        # so the preview skips reading them (a re-import then reads one document per customer);
        # entries broken by hand are `check`'s job. Commits always read them.
        unchanged = {item.customer_id for item in window if trust_unchanged and stored.get(item.customer_id) == item.profile}
        changing = [item for item in window if item.customer_id not in unchanged]
        keys = set().union(*(item.keys | stored_index_keys(stored.get(item.customer_id) or {}, self._region) for item in changing))
        entries, claims = self._read_index(keys, changing, transaction)
        return [_Plan(UpsertResult(item.customer_id, "unchanged")) if item.customer_id in unchanged
                else self._plan(item, stored.get(item.customer_id), entries, claims) for item in window]

    def _read_index(self, keys: set[str], items: list[_Item], transaction: Transaction | None
                    ) -> tuple[dict[str, dict[str, Any]], dict[str, set[str]]]:
        """The index entries at `keys`, and for every other customer holding one of `items`' addresses,
        the addresses that customer's profile lists now (what `_index_writes` calls a claim)."""
        entries = self._get_all([self._index_ref(key) for key in sorted(keys)], transaction)
        # Read even when the owner is in `items` too: its stored profile, not its new one, decides (so a
        # number moved within one upsert_many is refused, as two writes of one commit could collide).
        owners = {owner for item in items for key in item.keys if (owner := _owner(entries.get(key), item.customer_id)) != item.customer_id}
        profiles = self._get_all([self._customer_ref(owner) for owner in sorted(owners) if _is_id(owner)], transaction)
        return entries, {owner: stored_index_keys(profile, self._region) for owner, profile in profiles.items()}

    def _get_all(self, refs: list[DocumentReference], transaction: Transaction | None) -> dict[str, dict[str, Any]]:
        """Existing documents among `refs`, by id (get_all answers in no particular order)."""
        if not refs:
            return {}
        reader = transaction.get_all(refs) if transaction is not None else self._db.get_all(refs)
        return {snapshot.id: snapshot.to_dict() or {} for snapshot in reader if snapshot.exists}

    def _index_writes(self, item: _Item, releasable: set[str], entries: Mapping[str, Mapping[str, Any]],
                      claims: Mapping[str, set[str]]) -> tuple[list[tuple[DocumentReference, dict[str, Any]]], list[DocumentReference],
                                                                list[AddressConflict]]:
        """The one index rule, for the data tool and the trigger alike.

        Every address of `item` gets an entry holding its card, unless another customer's
        entry is there and that customer's profile still lists the address: a conflict, the
        entry stays. An entry whose owner no longer lists its address (a number moved by a
        console edit or a sync, whatever order the writes arrive in) is stale and taken over.
        Of the `releasable` addresses `item` no longer lists, only entries still pointing at
        this customer are removed.
        """
        cid = item.customer_id
        card = card_of(cid, item.profile).as_index_document()
        sets, conflicts = [], []
        for key in sorted(item.keys):
            owner = _owner(entries.get(key), cid)
            if owner != cid and key in claims.get(owner, ()):
                conflicts.append(AddressConflict(key, owner, cid))
            elif entries.get(key) != card:
                sets.append((self._index_ref(key), card))
        deletes = [self._index_ref(key) for key in sorted(releasable - item.keys) if (entries.get(key) or {}).get("customer_id") == cid]
        return sets, deletes, conflicts

    def _plan(self, item: _Item, old: dict[str, Any] | None, entries: Mapping[str, Mapping[str, Any]],
              claims: Mapping[str, set[str]]) -> _Plan:
        cid = item.customer_id
        old_keys = stored_index_keys(old, self._region) if old is not None else set()
        index_sets, deletes, conflicts = self._index_writes(item, old_keys, entries, claims)
        profile_changes = _changed_fields(old, item.profile)
        profile_sets = [(self._customer_ref(cid), item.profile)] if profile_changes else []
        changed = profile_changes + (("index",) if index_sets or deletes else ())
        outcome: Outcome = "created" if old is None else "updated" if changed else "unchanged"
        return _Plan(UpsertResult(cid, outcome, changed if outcome == "updated" else ()), profile_sets + index_sets, deletes, conflicts)

    def converge(self, customer_id: str) -> Convergence:
        """Bring the index entries and derived fields of one customer in line with its profile as stored now.

        For profiles written by anyone (console, CRM sync, scripts), so the event that asked for
        this is never trusted: the profile, the entries pointing at it and those at its
        addresses are read in one transaction, and `_index_writes` decides. The user's own
        fields are never written: only `sort_name` and a missing `worker`, and only when they
        differ, so the event this write fires finds nothing to do. A deleted profile loses every
        entry pointing at it. An invalid profile (reported in `invalid`) is indexed as it stands,
        as `check --fix` would index it, but its derived fields are left alone.
        """
        from google.cloud import firestore
        from google.cloud.firestore_v1.base_query import FieldFilter

        cid = customer_id_of(customer_id)
        owned_entries = self._db.collection(ADDRESS_INDEX_COLLECTION).where(filter=FieldFilter("customer_id", "==", cid))

        @firestore.transactional
        def plan_and_write(transaction: Transaction) -> Convergence:
            snapshot = self._customer_ref(cid).get(transaction=transaction)
            stored = snapshot.to_dict() if snapshot.exists else None
            # By owner, not by an earlier version of the profile: the event's old value is not trusted.
            owned = {entry.id: entry.to_dict() or {} for entry in transaction.get(owned_entries)}
            clean, invalid = self._validated_as_stored(stored)
            item = _Item(cid, stored or {}, frozenset(stored_index_keys(stored or {}, self._region)))
            entries, claims = self._read_index(set(item.keys), [item], transaction)
            sets, deletes, conflicts = self._index_writes(item, set(owned), {**owned, **entries}, claims)
            derived = derived_updates(stored or {}, clean) if clean is not None else {}
            if len(sets) + len(deletes) + 1 > MAX_WRITES_PER_COMMIT:
                too_many = InvalidProfile(f"{len(item.keys)} addresses do not fit in one commit", "channels")
                return Convergence(cid, stored is not None, conflicts=tuple(conflicts), invalid=too_many)
            for ref, data in sets:
                transaction.set(ref, data)
            for ref in deletes:
                transaction.delete(ref)
            if derived:
                transaction.update(self._customer_ref(cid), derived)
            return Convergence(cid, stored is not None, tuple(ref.id for ref, _ in sets), tuple(ref.id for ref in deletes),
                               tuple(sorted(derived)), tuple(conflicts), invalid)

        from google.api_core.exceptions import Aborted

        with store_errors(f"converging customer {cid!r}"):
            for attempt in range(1, CONVERGE_ATTEMPTS):
                try:
                    return plan_and_write(self._db.transaction())
                except Aborted:
                    # A read that lost a lock to another writer (the library retries only a failed
                    # commit): read again after a pause rather than fail the event at once.
                    time.sleep(0.05 * 2 ** attempt)
            return plan_and_write(self._db.transaction())

    def _validated_as_stored(self, stored: dict[str, Any] | None) -> tuple[dict[str, Any] | None, InvalidProfile | None]:
        if stored is None:
            return None, None
        try:
            return validate_profile(stored, self._region), None
        except InvalidProfile as error:
            return None, error

    def profiles(self) -> Iterator[tuple[str, dict[str, Any]]]:
        """Every stored profile as (customer_id, data), by id."""
        for snapshot in self._db.collection(self._customers).stream():
            yield snapshot.id, snapshot.to_dict() or {}

    def index_entries(self) -> Iterator[tuple[str, dict[str, Any]]]:
        for snapshot in self._db.collection(ADDRESS_INDEX_COLLECTION).stream():
            yield snapshot.id, snapshot.to_dict() or {}

    def apply_repair(self, repair: IndexRepair) -> int:
        """Write an audit's repairs in batches of at most 500; returns the number of writes.

        Plain batches, not transactions: the repair is derived from a full scan, so it is meant
        for a quiet moment; a later `check` shows anything a concurrent writer changed meanwhile.
        Profile fixes are field updates, so they never overwrite a field the audit did not judge.
        """
        writes: list[tuple[str, DocumentReference, dict[str, Any]]] = []
        writes += [("set", self._index_ref(key), data) for key, data in repair.index_sets.items()]
        writes += [("delete", self._index_ref(key), {}) for key in repair.index_deletes]
        writes += [("update", self._customer_ref(cid), fields) for cid, fields in repair.profile_updates.items()]
        for start in range(0, len(writes), MAX_WRITES_PER_COMMIT):
            batch = self._db.batch()
            for kind, ref, data in writes[start:start + MAX_WRITES_PER_COMMIT]:
                if kind == "set":
                    batch.set(ref, data)
                elif kind == "update":
                    batch.update(ref, data)
                else:
                    batch.delete(ref)
            batch.commit()
        return len(writes)


def _owner(entry: Mapping[str, Any] | None, default: str) -> str:
    """Whom an index entry names; `default` when there is no entry (or it names nobody)."""
    return str((entry or {}).get("customer_id", default))


def _is_id(value: str) -> bool:
    try:
        customer_id_of(value)
    except InvalidProfile:
        return False
    return True


def converge_customer(customer_id: str) -> Convergence:
    """The Firestore trigger's way in: the Firestore settings only (the project may come from the credentials)."""
    from runtime.config import store_settings
    from store.client import firestore_client

    current = store_settings()
    with store_errors("Firestore client"):
        db = firestore_client(current.project)
    return CustomerStore(db, current.customers_collection, current.default_region).converge(customer_id)


def admin_store() -> CustomerStore:
    """The store the tools write through: needs only the Firestore settings, never Twilio's."""
    from runtime.config import ConfigError, store_settings
    from store.client import firestore_client

    current = store_settings()
    if not current.project:
        raise ConfigError("GOOGLE_CLOUD_PROJECT is not set: name the Firestore project (a demo- id with the emulator)")
    return CustomerStore(firestore_client(current.project), current.customers_collection, current.default_region)
