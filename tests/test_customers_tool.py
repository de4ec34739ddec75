"""The customer data tool end to end: files in and out of the real emulator, found again by the webhook."""

from __future__ import annotations

import csv
import json
import os
import random
import select
import subprocess
import sys

import pytest

from store.customers import fitting_prefix
from tests.conftest import ROOT, signed_post
from tools.customers import main

SURNAMES = ["Ng", "Łukasz", "O'Brien", "Smith, Jr."]
HEADER = "customer_id,display_name,avatar,worker,sms,whatsapp,chat,email,links,details,extra"


def generated_rows(count: int, seed: int = 7) -> list[dict[str, str]]:
    """Distinct customers over every channel column, some with two numbers or no id (derived)."""
    rng = random.Random(seed)
    rows = []
    for n in range(count):
        sms = f"+1555{2000000 + n:07d}"
        rows.append({
            "customer_id": "" if n % 10 == 9 else f"gen-{n:05d}",
            "display_name": f"Customer {n} {rng.choice(SURNAMES)}",
            "avatar": f"https://avatars.example.com/{n}.png" if n % 3 else "",
            "worker": f"worker{n % 4}@example.com" if n % 5 else "",
            "sms": sms if n % 7 else f"{sms};+1555{3000000 + n:07d}",
            "whatsapp": f"whatsapp:+44770{n:07d}" if n % 4 == 0 else "",
            "chat": "",
            "email": f"C{n}@Example.com" if n % 6 == 0 else "",
            "links": json.dumps([{"type": "CRM", "value": f"https://crm.example.com/{n}", "display_name": "CRM"}]) if n % 8 == 0 else "",
            "details": json.dumps({"title": "Notes", "content": f"note {n}"}) if n % 2 else "",
            "extra": "",
        })
    return rows


def write_csv(path, rows):
    with open(path, "w", newline="", encoding="utf-8") as out:
        writer = csv.DictWriter(out, fieldnames=HEADER.split(","))
        writer.writeheader()
        writer.writerows(rows)
    return path


def run(capsys, *argv: str) -> tuple[int, str, str]:
    code = main([str(arg) for arg in argv])
    captured = capsys.readouterr()
    return code, captured.out, captured.err


def document_times(db) -> dict[str, object]:
    """update_time of every customer and index document: any write at all changes one."""
    return {f"{name}/{snap.id}": snap.update_time for name in ("customers", "customer_addresses")
            for snap in db.collection(name).stream()}


def conversation_name(client, address: str) -> str:
    params = {"EventType": "onConversationAdd", "ChatServiceSid": "IS" + "0" * 32, "State": "active",
              "MessagingBinding.Address": address, "MessagingBinding.ProxyAddress": "+15005550006"}
    response = signed_post(client, params)
    assert response.status_code == 200
    return response.get_json()["friendly_name"]


# --- import ---------------------------------------------------------------------------------------

def test_a_thousand_rows_are_imported_and_each_is_found_by_every_address(client, store, db, tmp_path, capsys):
    rows = generated_rows(1000)
    code, out, err = run(capsys, "import", write_csv(tmp_path / "big.csv", rows))
    assert (code, err) == (0, "")
    assert out.strip().splitlines()[-1] == "created 1000, updated 0, unchanged 0, skipped 0"
    ids = set()
    for row in rows:
        addresses = row["sms"].split(";") + [a for a in (row["whatsapp"], row["email"]) if a]
        cards = [store.find_by_address(address) for address in addresses]
        assert all(card is not None and card.display_name == row["display_name"] for card in cards), row
        assert len({card.customer_id for card in cards}) == 1
        assert cards[0].avatar == (row["avatar"] or None)
        if row["customer_id"]:
            assert cards[0].customer_id == row["customer_id"]
        ids.add(cards[0].customer_id)
    assert len(ids) == 1000
    for row in random.Random(1).sample(rows, 50):
        assert conversation_name(client, row["sms"].split(";")[0]) == row["display_name"]


def test_a_second_import_of_the_same_file_writes_nothing(db, tmp_path, capsys):
    path = write_csv(tmp_path / "some.csv", generated_rows(200))
    assert run(capsys, "import", path)[0] == 0
    before = document_times(db)
    code, out, _ = run(capsys, "import", path)
    assert code == 0
    assert out.strip() == "created 0, updated 0, unchanged 200, skipped 0"
    assert document_times(db) == before


MALFORMED = "\n".join([
    HEADER,
    "cust-ok,Ok Customer,https://a.example.com/ok.png,,+15550100100,,,,,,",
    ",   ,,,+15550100101,,,,,,",
    "cust-bad-number,Bad Number,,,555-CALL-NOW,,,,,,",
    "cust-http,Plain Http,http://a.example.com/x.png,,+15550100102,,,,,,",
    "cust-ok,Same Id Again,,,+15550100103,,,,,,",
    "cust-thief,Number Thief,,,whatsapp:(555) 010-0100,,,,,,",
    'cust-links,Bad Links,,,+15550100104,,,,"{not json",,',
    "cust-wide,Too Many Cells,,,+15550100105,,,,,,,surplus",
    "cust-good,Good Customer,,,+15550100106,,,,,,",
]) + "\n"


def test_every_malformed_row_is_reported_with_its_line_and_reason_and_nothing_is_written(db, tmp_path, capsys):
    path = tmp_path / "bad.csv"
    path.write_text(MALFORMED)
    code, out, err = run(capsys, "import", path)
    assert code == 1
    assert out == ""
    assert err.splitlines() == [
        f"{path}:3: display_name is required",
        f"{path}:4: sms channel value '555-CALL-NOW' is not a phone number",
        f"{path}:5: avatar 'http://a.example.com/x.png' must be an absolute https URL",
        f"{path}:6: customer_id 'cust-ok' is also on line 2",
        f"{path}:7: address +15550100100 is also claimed by customer 'cust-ok' on line 2",
        f"{path}:8: links is not valid JSON (Expecting property name enclosed in double quotes)",
        f"{path}:9: 12 cells but the header has 11 columns",
        "nothing written: 7 bad row(s); fix them, or pass --skip-invalid to import the others",
    ]
    assert list(db.collection("customers").stream()) == []
    assert list(db.collection("customer_addresses").stream()) == []


def test_skip_invalid_imports_the_good_rows_and_counts_the_bad_ones(store, tmp_path, capsys):
    path = tmp_path / "bad.csv"
    path.write_text(MALFORMED)
    code, out, err = run(capsys, "import", path, "--skip-invalid")
    assert code == 0
    assert out.strip() == "created 2, updated 0, unchanged 0, skipped 7"
    assert len(err.splitlines()) == 7
    assert store.find_by_address("+15550100100").customer_id == "cust-ok"
    assert store.find_by_address("+15550100106").customer_id == "cust-good"
    assert store.find_by_address("+15550100101") is None and store.get("cust-http") is None


def test_an_address_owned_in_firestore_by_another_customer_names_both_ids(store, tmp_path, capsys):
    store.upsert("owner", {"display_name": "Owner", "channels": [{"type": "sms", "value": "+15550100200"}]})
    path = tmp_path / "claim.csv"
    path.write_text(f"{HEADER}\nnewcomer,New Comer,,,(555) 010-0200,,,,,,\nother,Other,,,+15550100201,,,,,,\n")
    code, _, err = run(capsys, "import", path)
    assert code == 1
    assert err.splitlines()[0] == f"{path}:2: address +15550100200 already belongs to customer 'owner' in Firestore; this row is customer 'newcomer'"
    assert store.get("newcomer") is None and store.get("other") is None
    assert store.find_by_address("+15550100200").customer_id == "owner"
    code, out, _ = run(capsys, "import", path, "--skip-invalid")
    assert (code, out.strip()) == (0, "created 1, updated 0, unchanged 0, skipped 1")
    assert store.get("newcomer") is None and store.find_by_address("+15550100201").customer_id == "other"
    assert store.find_by_address("+15550100200").customer_id == "owner"


def test_dry_run_writes_nothing_and_lists_what_would_change(db, store, tmp_path, capsys):
    store.upsert("same", {"display_name": "Same", "channels": [{"type": "sms", "value": "+15550100300"}]})
    store.upsert("renamed", {"display_name": "Old Name", "channels": [{"type": "sms", "value": "+15550100301"}]})
    path = tmp_path / "changes.json"
    path.write_text(json.dumps([
        {"customer_id": "same", "display_name": "Same", "channels": [{"type": "sms", "value": "+15550100300"}]},
        {"customer_id": "renamed", "display_name": "New Name", "channels": [{"type": "sms", "value": "+15550100301"}]},
        {"customer_id": "fresh", "display_name": "Fresh", "channels": [{"type": "email", "value": "fresh@example.com"}]},
    ]))
    before = document_times(db)
    code, out, _ = run(capsys, "import", path, "--dry-run")
    assert code == 0
    assert out.splitlines() == [
        "would update renamed: display_name, sort_name, index",
        "would create fresh",
        "dry run, nothing written; would be: created 1, updated 1, unchanged 1, skipped 0",
    ]
    assert document_times(db) == before
    assert run(capsys, "import", path)[1].strip() == "created 1, updated 1, unchanged 1, skipped 0"
    assert store.find_by_address("+15550100301").display_name == "New Name"


def test_a_number_moved_between_imports_leaves_no_stale_entry(store, tmp_path, capsys):
    path = tmp_path / "move.csv"
    path.write_text(f"{HEADER}\nmover,Mover,,,+15550100400,,,,,,\n")
    run(capsys, "import", path)
    path.write_text(f"{HEADER}\nmover,Mover,,,+15550100401,,,,,,\n")
    assert run(capsys, "import", path)[1].strip() == "created 0, updated 1, unchanged 0, skipped 0"
    assert store.find_by_address("+15550100400") is None
    assert store.find_by_address("+15550100401").customer_id == "mover"


def test_a_csv_cell_spanning_lines_is_reported_on_the_line_its_row_starts(db, tmp_path, capsys):
    path = tmp_path / "multiline.csv"
    path.write_text(f'{HEADER}\nm1,Multi,http://x.example.com/a.png,,+15550100450,,,,,"{{""title"": ""Notes"",\n""content"":\n""three lines""}}",\n'
                    "m2,,,,+15550100451,,,,,,\n")
    code, _, err = run(capsys, "import", path)
    assert code == 1
    assert err.splitlines()[:2] == [f"{path}:2: avatar 'http://x.example.com/a.png' must be an absolute https URL",
                                    f"{path}:5: display_name is required"]


def test_json_and_json_lines_report_the_line_each_row_starts_on(db, tmp_path, capsys):
    array = tmp_path / "rows.json"
    array.write_text('[\n  {"customer_id": "a", "display_name": "A",\n   "channels": [{"type": "sms", "value": "+15550100500"}]},\n'
                     '  {"customer_id": "b",\n   "display_name": ""},\n  42\n]\n')
    code, _, err = run(capsys, "import", array)
    assert code == 1
    assert err.splitlines()[:2] == [f"{array}:4: display_name is required", f"{array}:6: a customer must be a JSON object"]
    lines = tmp_path / "rows.jsonl"
    lines.write_text('{"customer_id": "a", "display_name": "A"}\n\n{"customer_id": "b", "display_name": "B", "avatar": "ftp://x"}\n{oops\n')
    code, _, err = run(capsys, "import", lines)
    assert code == 1
    assert err.splitlines()[:2] == [f"{lines}:3: avatar 'ftp://x' must be an absolute https URL", f"{lines}:4: not valid JSON (Expecting property name enclosed in double quotes)"]
    assert list(db.collection("customers").stream()) == []


@pytest.mark.parametrize("content, message", [
    ("customer_id,name,sms\nx,X,+15550100600\n", "unknown column(s) 'name'"),
    ('{"customer_id": "x"}', "must hold one JSON array"),
])
def test_a_file_that_cannot_be_read_at_all_is_exit_2_with_the_reason(db, tmp_path, capsys, content, message):
    path = tmp_path / ("f.csv" if content.startswith("customer_id") else "f.json")
    path.write_text(content)
    code, _, err = run(capsys, "import", path)
    assert code == 2 and message in err
    assert list(db.collection("customers").stream()) == []


def test_format_forces_a_reading_whatever_the_extension(store, tmp_path, capsys):
    path = tmp_path / "customers.txt"
    path.write_text('{"customer_id": "t", "display_name": "Tee", "channels": [{"type": "chat", "value": "Tee"}]}\n')
    assert run(capsys, "import", path)[0] == 2
    assert run(capsys, "import", path, "--format", "jsonl")[0] == 0
    assert store.find_by_address("tee").customer_id == "t"


def test_a_progress_bar_is_drawn_only_on_a_terminal(db, tmp_path):
    import io
    import pty

    from tools.customers import import_file

    path = write_csv(tmp_path / "few.csv", generated_rows(3))
    piped = io.StringIO()
    import_file(path, out=io.StringIO(), err=piped)
    assert piped.getvalue() == ""
    db.collection("customers").document("gen-00000").delete()
    leader, follower = pty.openpty()
    drawn = b""
    with open(follower, "w", encoding="utf-8", closefd=True) as terminal:
        import_file(path, out=io.StringIO(), err=terminal)
        # A terminal hands its output over in pieces: read (while it is open) until nothing more is waiting.
        while select.select([leader], [], [], 0.5)[0]:
            drawn += os.read(leader, 65536)
    os.close(leader)
    drawn = drawn.decode()
    assert "\rchecking [" in drawn and "3/3" in drawn and "\rwriting  [" in drawn and "1/1" in drawn


# --- export ---------------------------------------------------------------------------------------

@pytest.mark.parametrize("extension", ["csv", "json", "jsonl"])
def test_export_then_import_changes_nothing(db, store, tmp_path, capsys, extension):
    assert run(capsys, "import", write_csv(tmp_path / "seed.csv", generated_rows(60)))[0] == 0
    # Shapes a CSV row alone would not produce: empty lists, an extra field, nested JSON, quotes and commas.
    store.upsert("odd", {"display_name": 'Zoë "Zed", Esq.', "channels": [], "links": [], "details": {},
                         "notes": {"tier": 2, "tags": ["a", "b"]}, "worker": "w@example.com"})
    first = tmp_path / f"first.{extension}"
    assert run(capsys, "export", first)[0] == 0
    before = document_times(db)
    code, out, _ = run(capsys, "import", first)
    assert (code, out.strip()) == (0, "created 0, updated 0, unchanged 61, skipped 0")
    assert document_times(db) == before
    second = tmp_path / f"second.{extension}"
    run(capsys, "export", second)
    assert second.read_bytes() == first.read_bytes()


def test_export_into_an_empty_project_imports_the_same_data(db, store, tmp_path, capsys, emulator):
    run(capsys, "import", ROOT / "samples" / "customers.csv")
    saved = {snap.id: snap.to_dict() for name in ("customers", "customer_addresses") for snap in db.collection(name).stream()}
    path = tmp_path / "all.json"
    run(capsys, "export", path)
    emulator.clear()
    assert run(capsys, "import", path)[1].strip() == "created 6, updated 0, unchanged 0, skipped 0"
    assert {snap.id: snap.to_dict() for name in ("customers", "customer_addresses") for snap in db.collection(name).stream()} == saved


# --- check ----------------------------------------------------------------------------------------

def test_check_finds_a_hand_written_and_a_hand_renamed_customer_and_fix_repairs_both(client, db, store, capsys):
    run(capsys, "import", ROOT / "samples" / "customers.csv")
    assert run(capsys, "check")[0] == 0
    db.collection("customers").document("hand").set({"display_name": "Hand Written", "channels": [{"type": "sms", "value": "+15550100700"}]})
    db.collection("customers").document("cust-ada").update({"display_name": "Ada King"})
    code, out, _ = run(capsys, "check")
    assert code == 1
    assert "missing: address +15550100700: no index entry for customer 'hand'" in out
    assert "stale: address +15558675310: index entry differs from customer 'cust-ada' in display_name" in out
    assert "derived_fields: customer 'hand': sort_name, worker missing or out of date" in out
    assert out.splitlines()[-1] == "4 problem(s); 4 can be repaired with --fix"
    assert conversation_name(client, "+15550100700") == "+15550100700"  # what a stale index costs

    code, out, _ = run(capsys, "check", "--fix")
    assert code == 0 and out.splitlines()[-1] == "ok: every index entry matches its customer profile"
    assert run(capsys, "check")[0] == 0
    assert conversation_name(client, "+15550100700") == "Hand Written"
    assert conversation_name(client, "whatsapp:+15558675310") == "Ada King"
    assert store.get("hand")["sort_name"] == "hand written"


def test_check_fix_deletes_orphans_but_leaves_double_claims_and_missing_names(db, store, capsys):
    run(capsys, "import", ROOT / "samples" / "customers.csv")
    db.collection("customers").document("cust-alan").delete()
    db.collection("customers").document("twin").set({"display_name": "Twin", "worker": "", "sort_name": "twin",
                                                     "channels": [{"type": "sms", "value": "+1 555 010 0001"}]})
    db.collection("customers").document("nameless").set({"worker": "", "channels": [{"type": "chat", "value": "nobody"}]})
    code, out, _ = run(capsys, "check", "--fix")
    assert code == 1
    left = [line for line in out.splitlines() if line.startswith("left for you: ")]
    assert left == [
        "left for you: no_name: customer 'nameless': display_name is required; correct the profile and import it again",
        "left for you: double_claim: address +15550100001 is claimed by customers 'cust-grace', 'twin' (the index points to "
        "'cust-grace'); remove it from all but one profile",
    ]
    assert "orphaned: address +447700900123: index entry for customer 'cust-alan', who no longer exists" in out
    assert store.find_by_address("+447700900123") is None and store.find_by_address("alan.turing@example.com") is None
    assert store.find_by_address("+15550100001").customer_id == "cust-grace"
    assert store.find_by_address("nobody").customer_id == "nameless"
    assert out.splitlines()[-1] == "2 problem(s)"


# --- the tool as a program ------------------------------------------------------------------------

def test_the_tool_runs_without_any_twilio_setting(db, emulator):
    env = {name: value for name, value in os.environ.items() if not name.startswith("TWILIO_")}
    result = subprocess.run([sys.executable, "-m", "tools.customers", "import", "samples/customers.csv"],
                            cwd=ROOT, env=env, capture_output=True, text=True, timeout=60)
    assert result.returncode == 0, result.stderr
    assert result.stdout.strip() == "created 6, updated 0, unchanged 0, skipped 0"


def test_the_csv_and_json_samples_hold_the_same_customers(db, tmp_path, capsys):
    assert run(capsys, "import", ROOT / "samples" / "customers.csv")[0] == 0
    # Dorothy has no customer_id in either file: the same derived id, so unchanged, not created.
    assert run(capsys, "import", ROOT / "samples" / "customers.json")[1].strip() == "created 0, updated 0, unchanged 6, skipped 0"


@pytest.mark.parametrize("writes, fitting", [
    ([2] * 300, 250), ([500], 1), ([501, 1], 1), ([0] * 700, 700), ([499, 1, 1], 2), ([], 0),
])
def test_a_commit_takes_the_longest_prefix_within_500_writes(writes, fitting):
    assert fitting_prefix(writes) == fitting


def test_a_profile_csv_cannot_hold_is_refused_by_a_csv_export_and_kept_by_json(db, tmp_path, capsys):
    db.collection("customers").document("fax").set({"display_name": "Fax", "worker": "", "channels": [{"type": "fax", "value": "123"}]})
    code, _, err = run(capsys, "export", tmp_path / "out.csv")
    assert code == 2 and "customer 'fax': channel type 'fax' has no CSV column" in err
    assert not (tmp_path / "out.csv").exists()
    assert run(capsys, "export", tmp_path / "out.json")[0] == 0
    assert json.loads((tmp_path / "out.json").read_text())[0]["channels"] == [{"type": "fax", "value": "123"}]


def test_the_readme_documents_every_csv_column_and_the_derived_id_example():
    from store.profiles import derived_customer_id
    from tools.customer_files import CSV_COLUMNS

    readme = (ROOT / "README.md").read_text()
    assert not [column for column in CSV_COLUMNS if f"`{column}`" not in readme]
    example = derived_customer_id({"channels": [{"type": "sms", "value": "+15550100004"}]}, "US")
    assert f"`+15550100004` → `{example}`" in readme
