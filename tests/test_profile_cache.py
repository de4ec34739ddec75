"""The per-instance cache of index entries: how long an answer may be reused, and its bounds.

The staleness bound: an entry found is reused at most PROFILE_CACHE_TTL_S after its read was
sent, an unknown address at most a sixth of that (5 s at most); so a changed profile reaches
the webhooks within the TTL of the index changing, never later. Unit tests drive the cache
with a clock of their own; the end-to-end ones change a profile in the emulator and watch
what signed webhooks answer.
"""

from __future__ import annotations

import random
import threading
import time
import tracemalloc

import pytest

from runtime.config import ConfigError, store_settings_from_environ
from store.cache import MAX_BYTES, MAX_ENTRIES, CardCache
from store.profiles import CustomerCard
from tests.conftest import ADA, ADA_ADDRESS, signed_post
from tests.delay_proxy import DelayProxy


class Clock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


def card(n: int, name_length: int = 0) -> CustomerCard:
    return CustomerCard(f"cust-{n}", f"Customer Number {n}" + "x" * name_length, f"https://example.com/avatars/{n}.png")


# --- the cache itself -------------------------------------------------------------------------


def test_a_found_entry_lives_exactly_the_ttl_from_when_its_read_was_sent():
    clock = Clock()
    cache = CardCache(30.0, timer=clock)
    read_at = clock.now
    clock.now += 0.2  # the read's own time counts against the TTL
    cache.put("+15550000001", card(1), read_at)
    clock.now = read_at + 29.999
    assert cache.get("+15550000001").card == card(1)
    clock.now = read_at + 30.0
    assert cache.get("+15550000001") is None


def test_an_unknown_address_lives_a_sixth_of_the_ttl_and_at_most_5_seconds():
    clock = Clock()
    for ttl, unknown_ttl in ((30.0, 5.0), (12.0, 2.0), (600.0, 5.0)):
        cache = CardCache(ttl, timer=clock)
        start = clock.now
        cache.put("+15559999999", None, start)
        clock.now = start + unknown_ttl - 0.001
        hit = cache.get("+15559999999")
        assert hit is not None and hit.card is None
        clock.now = start + unknown_ttl
        assert cache.get("+15559999999") is None


def test_an_older_read_never_replaces_a_newer_answer():
    clock = Clock()
    cache = CardCache(30.0, timer=clock)
    cache.put("k", card(2), read_at=clock.now)  # the later read, answered first
    cache.put("k", card(1), read_at=clock.now - 0.5)  # an earlier read of the old profile, answered late
    assert cache.get("k").card == card(2)


def test_the_cache_is_bounded_in_entries_and_the_least_recently_used_go_first():
    clock = Clock()
    cache = CardCache(30.0, timer=clock)
    for n in range(MAX_ENTRIES + 2_000):
        cache.put(f"+1555{n:07d}", card(n), clock.now)
        if n >= 10:
            assert cache.get("+15550000000") is not None  # kept in use, so kept
    assert len(cache) == MAX_ENTRIES
    assert cache.get("+15550000001") is None  # the oldest unused went first
    assert cache.get(f"+1555{MAX_ENTRIES + 1_999:07d}").card == card(MAX_ENTRIES + 1_999)


def test_the_cache_is_bounded_in_memory_by_what_it_holds():
    clock = Clock()
    cache = CardCache(30.0, timer=clock)
    for n in range(2_000):
        cache.put(f"+1555{n:07d}", card(n, name_length=20_000), clock.now)
    assert cache.size_bytes <= MAX_BYTES
    assert len(cache) < MAX_BYTES // 20_000
    cache.put("huge", card(0, name_length=MAX_BYTES // 100), clock.now)
    assert cache.get("huge") is None, "one huge entry would push out hundreds of ordinary ones"


@pytest.mark.parametrize("name_length", [0, 20_000])
def test_what_the_cache_counts_covers_what_python_allocates(name_length):
    """The bytes bound is an estimate: check it against tracemalloc for ordinary and long names."""
    clock = Clock()
    cache = CardCache(30.0, timer=clock)
    tracemalloc.start()
    try:
        before = tracemalloc.get_traced_memory()[0]
        for n in range(MAX_ENTRIES + 1_000):
            cache.put(f"+1555{n:07d}", card(n, name_length), clock.now)
        allocated = tracemalloc.get_traced_memory()[0] - before
    finally:
        tracemalloc.stop()
    assert allocated <= MAX_BYTES * 1.1, f"{allocated / 1e6:.1f} MB held for at most {MAX_BYTES / 1e6:.0f} MB counted"


def test_many_threads_share_one_cache_safely():
    cache = CardCache(0.05)  # real clock: entries expire while the threads run
    errors: list[BaseException] = []

    def work(seed: int) -> None:
        chooser = random.Random(seed)
        try:
            for _ in range(3_000):
                n = chooser.randrange(500)
                if chooser.random() < 0.5:
                    cache.put(f"k{n}", card(n) if n % 3 else None, cache.timer())
                hit = cache.get(f"k{n}")
                assert hit is None or hit.card == (card(n) if n % 3 else None)
        except BaseException as error:  # noqa: BLE001 - reported by the main thread
            errors.append(error)

    threads = [threading.Thread(target=work, args=(seed,)) for seed in range(16)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert errors == []
    assert len(cache) <= 500


# --- the setting ------------------------------------------------------------------------------


def test_profile_cache_ttl_defaults_to_30_seconds_and_0_turns_it_off():
    assert store_settings_from_environ({}).profile_cache_ttl_s == 30.0
    assert store_settings_from_environ({"PROFILE_CACHE_TTL_S": "0"}).profile_cache_ttl_s == 0.0
    assert store_settings_from_environ({"PROFILE_CACHE_TTL_S": " 2.5 "}).profile_cache_ttl_s == 2.5


@pytest.mark.parametrize("raw", ["-1", "abc", "nan", "inf", "3601"])
def test_a_profile_cache_ttl_that_makes_no_sense_is_a_start_up_error_naming_it(raw):
    with pytest.raises(ConfigError, match="PROFILE_CACHE_TTL_S"):
        store_settings_from_environ({"PROFILE_CACHE_TTL_S": raw})


# --- end to end: what signed webhooks answer --------------------------------------------------


def friendly_name(client, address: str = ADA_ADDRESS) -> str:
    response = signed_post(client, {"EventType": "onConversationAdd", "ChatServiceSid": "IS" + "0" * 32,
                                    "MessagingBinding.Address": address, "MessagingBinding.ProxyAddress": "+15005550006"})
    assert response.status_code == 200
    return response.get_json()["friendly_name"]


def test_a_changed_profile_reaches_webhooks_within_the_ttl_never_later(client, store, profile_cache):
    ttl = 4.0
    profile_cache(str(ttl))
    store.upsert("ada", ADA)
    first_sent = time.monotonic()
    assert friendly_name(client) == "Ada Lovelace"
    store.upsert("ada", {**ADA, "display_name": "Ada King"})
    changed = time.monotonic()

    # Within the TTL the instance answers from its copy (a few ms after the change: well within it).
    assert friendly_name(client) == "Ada Lovelace"
    assert time.monotonic() < first_sent + ttl, "the machine was too slow to observe the cached answer"

    # The copy was read before the change, so it is gone by the change + TTL: never later.
    time.sleep(max(0.0, changed + ttl - time.monotonic()))
    assert [friendly_name(client) for _ in range(3)] == ["Ada King"] * 3


def test_a_customer_added_after_an_unknown_address_is_found_within_a_sixth_of_the_ttl(client, store, profile_cache):
    ttl = 6.0
    profile_cache(str(ttl))
    address = "+15550001234"
    assert friendly_name(client, address) == address
    store.upsert("new", {"display_name": "New Customer", "channels": [{"type": "sms", "value": address}]})
    added = time.monotonic()
    time.sleep(max(0.0, added + ttl / 6 - time.monotonic()))
    assert friendly_name(client, address) == "New Customer"


def test_with_the_cache_off_a_change_shows_at_once(client, store, profile_cache):
    profile_cache("0")
    store.upsert("ada", ADA)
    assert friendly_name(client) == "Ada Lovelace"
    store.upsert("ada", {**ADA, "display_name": "Ada King"})
    assert friendly_name(client) == "Ada King"


def test_the_post_event_after_the_pre_event_reads_nothing(client, twilio, store, emulator, settings_env, profile_cache):
    store.upsert("ada", ADA)
    profile_cache("30")
    twilio.add_participant("CH" + "c" * 32, "MB" + "c" * 32, address=ADA_ADDRESS)
    with DelayProxy(emulator.host_port, delay_s=0) as proxy:
        settings_env(FIRESTORE_EMULATOR_HOST=proxy.host_port)
        assert friendly_name(client) == "Ada Lovelace"
        after_pre_event = proxy.rpcs
        response = signed_post(client, {"EventType": "onParticipantAdded", "ConversationSid": "CH" + "c" * 32,
                                        "ParticipantSid": "MB" + "c" * 32, "MessagingBinding.Address": ADA_ADDRESS})
        assert response.status_code == 200
        assert proxy.rpcs == after_pre_event == 1
    assert twilio.attributes_of("CH" + "c" * 32, "MB" + "c" * 32)["display_name"] == "Ada Lovelace"

