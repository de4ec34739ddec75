"""Does the address index agree with `customers`? A pure comparison, so every case is a plain test.

The index is derived data. The Firestore trigger keeps it in step with every write; data
written before it was deployed (or while it failed) can leave it missing, stale or orphaned,
and webhooks then name the wrong customer (or nobody). The trigger (`CustomerStore.converge`)
builds the same entries this expects, so after it has run `audit` finds nothing to repair.
`audit` says what is wrong and which writes repair the safe cases; an address two profiles
both claim, and an invalid profile, need a person to decide, so they are reported and left.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any, Literal

from store.customers import IndexRepair
from store.profiles import InvalidProfile, card_of, derived_updates, stored_index_keys, validate_profile

ProblemKind = Literal["missing", "stale", "orphaned", "double_claim", "no_name", "invalid", "derived_fields"]
# What --fix may repair on its own: everything here is rebuilt from the profiles, which stay the truth.
FIXABLE: frozenset[str] = frozenset({"missing", "stale", "orphaned", "derived_fields"})


@dataclass(frozen=True)
class Problem:
    kind: ProblemKind
    subject: str  # the address key or customer id it is about
    message: str

    @property
    def fixable(self) -> bool:
        return self.kind in FIXABLE


@dataclass
class Audit:
    problems: list[Problem] = field(default_factory=list)
    repair: IndexRepair = field(default_factory=IndexRepair)

    @property
    def unfixable(self) -> list[Problem]:
        return [problem for problem in self.problems if not problem.fixable]


def _profile_problems(customer_id: str, profile: Mapping[str, Any], default_region: str, audit: Audit) -> None:
    try:
        clean = validate_profile(profile, default_region)
    except InvalidProfile as error:
        name = profile.get("display_name")
        kind: ProblemKind = "no_name" if not isinstance(name, str) or not name.strip() else "invalid"
        audit.problems.append(Problem(kind, customer_id, f"customer {customer_id!r}: {error}; correct the profile and import it again"))
        return
    updates = derived_updates(profile, clean)
    if updates:
        audit.problems.append(Problem("derived_fields", customer_id, f"customer {customer_id!r}: {', '.join(sorted(updates))} missing or out of date"))
        audit.repair.profile_updates[customer_id] = updates


def _entry_problem(key: str, owner: str, profile: Mapping[str, Any], entry: Mapping[str, Any] | None, audit: Audit) -> None:
    expected = card_of(owner, profile).as_index_document()
    if entry == expected:
        return
    if entry is None:
        audit.problems.append(Problem("missing", key, f"address {key}: no index entry for customer {owner!r}"))
    else:
        differs = sorted(name for name in expected.keys() | entry.keys() if entry.get(name) != expected.get(name))
        audit.problems.append(Problem("stale", key, f"address {key}: index entry differs from customer {owner!r} in {', '.join(differs)}"))
    audit.repair.index_sets[key] = expected


def audit(customers: Mapping[str, Mapping[str, Any]], entries: Mapping[str, Mapping[str, Any]], default_region: str) -> Audit:
    """Every disagreement between `customers` (id → profile) and the index (key → entry)."""
    result = Audit()
    claimants: dict[str, list[str]] = defaultdict(list)
    for customer_id in sorted(customers):
        _profile_problems(customer_id, customers[customer_id], default_region, result)
        for key in stored_index_keys(customers[customer_id], default_region):
            claimants[key].append(customer_id)
    for key in sorted(claimants):
        owners = claimants[key]
        if len(owners) > 1:
            holder = (entries.get(key) or {}).get("customer_id")
            result.problems.append(Problem("double_claim", key, f"address {key} is claimed by customers {', '.join(map(repr, owners))} "
                                                            f"(the index points to {holder!r}); remove it from all but one profile"))
            continue
        _entry_problem(key, owners[0], customers[owners[0]], entries.get(key), result)
    for key in sorted(entries.keys() - claimants.keys()):
        owner = str(entries[key].get("customer_id"))
        why = "no longer exists" if owner not in customers else "has no such channel"
        result.problems.append(Problem("orphaned", key, f"address {key}: index entry for customer {owner!r}, who {why}"))
        result.repair.index_deletes.append(key)
    return result
