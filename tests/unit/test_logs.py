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


# --- the lines themselves ------------------------------------------------------------------------

def _lines(capsys) -> list[dict]:
    import json

    return [json.loads(line) for line in capsys.readouterr().out.splitlines()]


def test_each_line_is_one_json_object_with_severity_and_message(capsys):
    from runtime import logs

    logs.warning("first", n=1)
    logs.error("second\u2028half")
    assert _lines(capsys) == [{"severity": "WARNING", "message": "first", "n": 1},
                              {"severity": "ERROR", "message": "second\u2028half"}]


def test_lines_below_the_level_are_not_written(capsys):
    from runtime import logs

    try:
        logs.set_level("WARNING")
        logs.info("quiet")
        logs.debug("quieter")
        logs.warning("loud")
    finally:
        logs.set_level("INFO")
    assert [line["message"] for line in _lines(capsys)] == ["loud"]


def test_fields_json_cannot_hold_drop_the_fields_not_the_line(capsys):
    from runtime import logs

    looped: list = []
    looped.append(looped)
    logs.error("key not a string", weird={(1, 2): 1})
    logs.error("value contains itself", looped=looped)
    assert _lines(capsys) == [{"severity": "ERROR", "message": "key not a string", "log_fields_dropped": "TypeError"},
                              {"severity": "ERROR", "message": "value contains itself", "log_fields_dropped": "ValueError"}]


def test_a_stdout_that_is_not_utf8_gets_the_entry_escaped(monkeypatch):
    import io
    import json

    from runtime import logs

    ascii_out = io.TextIOWrapper(io.BytesIO(), encoding="ascii")
    monkeypatch.setattr("sys.stdout", ascii_out)
    logs.warning("café ☕")
    ascii_out.flush()
    written = ascii_out.buffer.getvalue().decode("ascii")
    assert json.loads(written) == {"severity": "WARNING", "message": "café ☕"}


def test_a_closed_stdout_does_not_fail_the_caller(monkeypatch):
    import io

    from runtime import logs

    closed = io.StringIO()
    closed.close()
    monkeypatch.setattr("sys.stdout", closed)
    logs.error("nowhere to go")  # must not raise
