"""This instance's memory of index entries, so a second webhook for the same address reads nothing.

`onParticipantAdded` follows `onConversationAdd` for the same address within seconds, and
Twilio redelivers webhooks. An entry found is kept at most `ttl_s` (PROFILE_CACHE_TTL_S),
counted from the moment its read was sent, so an answer is never older than that; an unknown
address is kept a sixth of it, at most 5 s, so a customer added after a first message is found
almost at once. Bounded in entries and memory (least recently used first out), safe to share
between the request threads of an instance.
"""

from __future__ import annotations

import sys
import threading
import time
from collections.abc import Callable
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from store.profiles import CustomerCard

MAX_ENTRIES = 10_000
MAX_BYTES = 8_000_000  # a multiple of MAX_ENTRIES: 800 bytes an entry at least
UNKNOWN_TTL_CAP_S = 5.0
# Every entry costs at least this, so MAX_BYTES also caps the count at MAX_ENTRIES.
_MIN_ENTRY_COST = MAX_BYTES // MAX_ENTRIES
# What the cache's bookkeeping and the entry and card objects take besides the strings: ~400
# bytes an entry under tracemalloc on CPython 3.11 (tests/test_profile_cache.py checks the total).
_ENTRY_OVERHEAD = 448
# One entry with a megabyte of display name must not push out thousands of ordinary ones.
_MAX_ENTRY_COST = MAX_BYTES // 256


class Cached:
    """A cache hit: `card` is None for an address known to have no customer."""

    __slots__ = ("card", "read_at", "expires", "cost")

    def __init__(self, card: CustomerCard | None, read_at: float, expires: float, cost: int) -> None:
        self.card = card
        self.read_at = read_at
        self.expires = expires
        self.cost = cost


def _cost(key: str, card: CustomerCard | None) -> int:
    strings = sys.getsizeof(key)
    if card is not None:
        strings += sys.getsizeof(card.customer_id) + sys.getsizeof(card.display_name) + sys.getsizeof(card.avatar or "")
    return max(_MIN_ENTRY_COST, _ENTRY_OVERHEAD + strings)


class CardCache:
    def __init__(self, ttl_s: float, timer: Callable[[], float] = time.monotonic) -> None:
        from cachetools import TLRUCache

        self.ttl_s = ttl_s
        self.unknown_ttl_s = min(ttl_s / 6, UNKNOWN_TTL_CAP_S)
        self.timer = timer
        self._lock = threading.Lock()
        self._entries: TLRUCache[str, Cached] = TLRUCache(maxsize=MAX_BYTES, ttu=lambda _key, entry, _now: entry.expires,
                                                          timer=timer, getsizeof=lambda entry: entry.cost)

    def get(self, key: str) -> Cached | None:
        with self._lock:
            return self._entries.get(key)

    def put(self, key: str, card: CustomerCard | None, read_at: float) -> None:
        """Remember what a read sent at `read_at` (this cache's timer) answered for `key`."""
        cost = _cost(key, card)
        if cost > _MAX_ENTRY_COST:
            return
        expires = read_at + (self.ttl_s if card is not None else self.unknown_ttl_s)
        with self._lock:
            current = self._entries.get(key)
            if current is not None and current.read_at > read_at:
                return  # a later read already answered; an older answer must not replace it
            self._entries[key] = Cached(card, read_at, expires, cost)

    def __len__(self) -> int:
        with self._lock:
            self._entries.expire()
            return len(self._entries)

    @property
    def size_bytes(self) -> int:
        with self._lock:
            self._entries.expire()
            return int(self._entries.currsize)
