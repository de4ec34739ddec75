"""runtime.logs.mask_address: a log line never holds a full number."""

from __future__ import annotations

import pytest

from runtime.logs import mask_address


@pytest.mark.parametrize("address, masked", [
    ("+15558675310", "***5310"),
    ("whatsapp:+15558675310", "***5310"),
    ("+447700900123", "***0123"),
    ("12345", "***2345"),
    ("1234", "***"),
    ("12", "***"),
    ("", ""),
])
def test_mask_address_keeps_only_the_last_four(address, masked):
    assert mask_address(address) == masked


def test_mask_address_never_contains_the_number():
    assert "5558675310" not in mask_address("+15558675310")
    assert "867" not in mask_address("(555) 867-5310")
