"""The fast tests: pure rules only, no emulator, no Twilio stand-in, no Prism, no HTTP server.

`make mutate` runs this folder alone with `--confcutdir=tests/unit`, so tests/conftest.py (and
its session fixtures that start the emulator and the servers) is not even loaded there; under
`make test` it is, and the check below keeps a unit test from asking for one of them.
"""

from __future__ import annotations

from pathlib import Path

import pytest

HERE = Path(__file__).resolve().parent
# Fixtures of tests/conftest.py that start a process or a server, or need one.
NEEDS_A_SERVER = frozenset({"emulator", "standin_server", "prism", "app", "client", "db", "store", "twilio"})


def pytest_collection_modifyitems(config, items):
    for item in items:
        if HERE in Path(item.path).resolve().parents:
            used = NEEDS_A_SERVER.intersection(getattr(item, "fixturenames", ()))
            if used:
                raise pytest.UsageError(f"{item.nodeid} is a unit test but uses {', '.join(sorted(used))}: move it out of tests/unit")


@pytest.fixture(autouse=True)
def cold_address_caches():
    """store.profiles memoises address_key and is_phone_number for bulk imports. Each test starts
    with them empty, so no test passes on an answer another test computed, and a mutation run
    records every test that really reaches those functions."""
    from store import profiles

    profiles._key_of.cache_clear()
    profiles._is_phone.cache_clear()
    yield
