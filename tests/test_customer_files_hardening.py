"""The customer data tool against hostile files: spreadsheet formulas, rows Firestore refuses,
and files that cannot be read at all.
"""

from __future__ import annotations

import csv
import io
import json

import pytest

from tests.test_customers_tool import document_times, run
from tools.customer_files import FORMULA_STARTS, neutralised, unneutralised

FORMULA_LIKE = {
    "f-eq": {"display_name": '=HYPERLINK("https://evil.example.com","click")', "worker": "=cmd|' /C calc'!A0",
             "channels": [{"type": "sms", "value": "+15550100801"}, {"type": "chat", "value": "=1+1"}]},
    "f-plus": {"display_name": "+Plus Sign", "channels": [{"type": "email", "value": "-dash@example.com"}]},
    "-f-minus": {"display_name": "-Minus", "worker": "@at", "channels": [{"type": "chat", "value": "@handle"}]},
    "f-quote": {"display_name": "'=already quoted", "worker": "'hello", "channels": [{"type": "chat", "value": "''x"}]},
    "@f-at": {"display_name": "@Mention", "details": {"title": "=SUM(A1:A9)", "content": "+1"}},
}


def test_formula_like_values_are_neutralised_in_a_csv_export_and_import_gives_them_back(db, store, tmp_path, capsys):
    for customer_id, profile in FORMULA_LIKE.items():
        store.upsert(customer_id, profile)
    exported = tmp_path / "all.csv"
    assert run(capsys, "export", exported)[0] == 0
    rows = list(csv.reader(io.StringIO(exported.read_bytes().decode("utf-8"), newline="")))
    cells = [cell for row in rows[1:] for cell in row]
    assert not [cell for cell in cells if cell.startswith(FORMULA_STARTS)]
    assert "'=HYPERLINK(\"https://evil.example.com\",\"click\")" in cells and "'+15550100801" in cells
    assert "''=already quoted" in cells and "'hello" in cells  # a ' before a formula character is quoted again; before text it is not
    before = document_times(db)
    code, out, _ = run(capsys, "import", exported)
    assert (code, out.strip()) == (0, f"created 0, updated 0, unchanged {len(FORMULA_LIKE)}, skipped 0")
    assert document_times(db) == before
    for customer_id, profile in FORMULA_LIKE.items():
        stored = store.get(customer_id)
        assert stored["display_name"] == profile["display_name"].strip()


def test_tab_and_carriage_return_starts_left_by_a_console_edit_are_neutralised_too(db, tmp_path, capsys):
    # The store strips names, so only a profile written around it can start with these.
    db.collection("customers").document("tab").set({"display_name": "\tTabbed", "worker": "\r=2+2"})
    exported = tmp_path / "all.csv"
    assert run(capsys, "export", exported)[0] == 0
    row = list(csv.DictReader(io.StringIO(exported.read_bytes().decode("utf-8"), newline="")))[0]
    assert (row["display_name"], row["worker"]) == ("'\tTabbed", "'\r=2+2")


def test_a_hand_written_leading_apostrophe_before_plain_text_is_kept(store, tmp_path, capsys):
    path = tmp_path / "hand.csv"
    path.write_text("customer_id,display_name,worker\nh1,'hello,'=x\n", encoding="utf-8")
    assert run(capsys, "import", path)[0] == 0
    assert store.get("h1")["display_name"] == "'hello"  # no formula character after it: not ours to remove
    assert store.get("h1")["worker"] == "=x"           # what a spreadsheet shows for '=x


@pytest.mark.parametrize("value", ["", "=", "'", "''", "'''=", "'a", "a'", "=1", "'=1", "''=1", "\t", "'\r", "-", "x=1", "@"])
def test_neutralising_then_reading_gives_back_every_value(value):
    assert unneutralised(neutralised(value)) == value
    assert not neutralised(value).startswith(FORMULA_STARTS)


# --- item 6: a row Firestore would refuse stops the import before anything is written --------------

def deep(levels: int) -> dict:
    value: object = "x"
    for _ in range(levels):
        value = {"a": value}
    return value  # type: ignore[return-value]


REFUSED = {
    "reserved field name": ({"__bad__": 1}, "names of the form __x__ are reserved"),
    "empty field name": ({"details": {"": 1}}, "a field name must be non-empty"),
    "integer past int64": ({"score": 2**63}, "does not fit in a 64-bit integer"),
    "array in an array": ({"tags": [["a"]]}, "an array directly inside an array"),
    "nested 21 deep": ({"details": deep(21)}, "nested deeper than 20"),
    "over 1 MiB with sort_name": ({"display_name": "n" * 600_000}, "takes 1,200,"),
    "unpaired surrogate": ({"details": {"note": "\ud800"}}, "not valid Unicode"),
}


@pytest.mark.parametrize("case", list(REFUSED))
def test_a_file_with_one_row_firestore_refuses_writes_nothing(db, tmp_path, capsys, case):
    extra, reason = REFUSED[case]
    rows = [{"customer_id": f"ok-{n:04d}", "display_name": f"Customer {n}", "channels": [{"type": "sms", "value": f"+1555{3000000 + n:07d}"}]}
            for n in range(600)]
    rows.insert(550, {"customer_id": "refused", "display_name": "Refused", **extra})
    path = tmp_path / "rows.jsonl"
    path.write_text("".join(json.dumps(row) + "\n" for row in rows), encoding="utf-8")
    code, _, err = run(capsys, "import", path)
    assert code == 1
    assert err.startswith(f"{path}:551: customer 'refused': ") or err.startswith(f"{path}:551: "), err[:300]
    assert reason in err.splitlines()[0]
    assert document_times(db) == {}


def test_a_stored_profile_that_became_too_large_with_its_sort_name_is_reported_by_check(db, store, capsys):
    db.collection("customers").document("huge").set({"display_name": "h" * 600_000, "worker": ""})
    code, out, _ = run(capsys, "check")
    assert code == 1 and "invalid: customer 'huge'" in out and "takes 1,200," in out


# --- unreadable files: one `error:` line, exit 2, never a traceback ------------------------------------

def test_a_utf16_file_is_an_error_line_not_a_traceback(db, tmp_path, capsys):
    path = tmp_path / "excel.csv"
    path.write_bytes("customer_id,display_name\nx,X\n".encode("utf-16"))
    code, _, err = run(capsys, "import", path)
    assert code == 2 and err.startswith("error: line 1: not UTF-8 text")


def test_a_csv_cell_past_the_csv_modules_limit_is_an_error_line(db, tmp_path, capsys):
    path = tmp_path / "big.csv"
    path.write_text("customer_id,display_name\nx," + "y" * (csv.field_size_limit() + 1) + "\n", encoding="utf-8")
    code, _, err = run(capsys, "import", path)
    assert code == 2 and err.startswith("error: line 2: field larger than field limit")


def test_a_json_array_nested_100k_deep_is_an_error_line(db, tmp_path, capsys):
    path = tmp_path / "deep.json"
    path.write_text("[" + "[" * 100_000 + "]" * 100_000 + "]", encoding="utf-8")
    code, _, err = run(capsys, "import", path)
    assert code == 2 and err.startswith("error: line 1: a customer nested too deeply to read")


def test_deep_nesting_in_a_json_line_or_a_csv_cell_is_a_bad_row(db, tmp_path, capsys):
    lines = tmp_path / "deep.jsonl"
    lines.write_text('{"customer_id": "a", "display_name": "A"}\n' + "[" * 100_000 + "]" * 100_000 + "\n", encoding="utf-8")
    code, _, err = run(capsys, "import", lines)
    assert code == 1 and f"{lines}:2: nested too deeply to read" in err
    cells = tmp_path / "deep.csv"
    cells.write_text("customer_id,display_name,details\nb,B," + "[" * 60_000 + "]" * 60_000 + "\n", encoding="utf-8")  # within the cell limit
    code, _, err = run(capsys, "import", cells)
    assert code == 1 and f"{cells}:2: details is nested too deeply to read" in err
    assert document_times(db) == {}


def test_an_export_cell_a_csv_reader_could_not_read_back_stops_a_csv_export(db, store, tmp_path, capsys):
    store.upsert("long", {"display_name": "Long", "details": {"content": "z" * (csv.field_size_limit() + 10)}})
    code, _, err = run(capsys, "export", tmp_path / "all.csv")
    assert code == 2 and "details is over" in err and "--format json" in err
    assert not (tmp_path / "all.csv").exists()
