"""Customer files: CSV, a JSON array, or JSON lines, read row by row with the line each row starts on.

A record is a profile as the store keeps it plus `customer_id`. Reading never judges a
profile (store/profiles.py does that); it only turns text into records, and reports the
rows it cannot turn into one (bad JSON, a links cell that is not a JSON array...).
"""

from __future__ import annotations

import csv
import io
import json
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any, TextIO

from store.profiles import CHANNEL_TYPES, OPTED_OUT_CHANGED_AT_FIELD, OPTED_OUT_FIELD, SORT_FIELD

FORMATS = ("csv", "json", "jsonl")
_EXTENSIONS = {".csv": "csv", ".json": "json", ".jsonl": "jsonl", ".ndjson": "jsonl"}
# One column per channel type, several values separated by ';'.
CHANNEL_COLUMNS = CHANNEL_TYPES
VALUE_SEPARATOR = ";"
# Cells holding JSON: links (array), details (object), extra (object of any other profile fields).
JSON_COLUMNS = {"links": list, "details": dict, "extra": dict}
# The customer's opt-out (written by the webhook when they text STOP / START): true/false, and when.
OPT_OUT_COLUMNS = (OPTED_OUT_FIELD, OPTED_OUT_CHANGED_AT_FIELD)
CSV_COLUMNS = ("customer_id", "display_name", "avatar", "worker", *CHANNEL_COLUMNS, *JSON_COLUMNS, *OPT_OUT_COLUMNS)
_PLAIN_FIELDS = ("display_name", "avatar", "worker")
_TRUE, _FALSE = ("true", "yes", "1"), ("false", "no", "0")
# Known profile fields in the order a person reads them; exports list any others after these.
_FIELD_ORDER = ("customer_id", "display_name", "avatar", "worker", "channels", "links", "details", *OPT_OUT_COLUMNS)


class FileError(ValueError):
    """The file as a whole cannot be read (not a row's fault); the message says where and why."""


@dataclass(frozen=True)
class Row:
    line: int
    record: dict[str, Any] | None = None
    error: str | None = None


def format_of(path: Path, forced: str | None) -> str:
    if forced:
        return forced
    try:
        return _EXTENSIONS[path.suffix.lower()]
    except KeyError:
        raise FileError(f"{path}: cannot tell the format from {path.suffix or 'no extension'!r}; "
                        f"use .csv, .json or .jsonl, or --format {'|'.join(FORMATS)}") from None


def read_rows(path: Path, fmt: str) -> list[Row]:
    """Every row of the file; FileError (never another exception) for a file that cannot be read as a whole."""
    raw = path.read_bytes()
    try:
        # utf-8-sig: spreadsheets often save CSV with a byte-order mark.
        text = raw.decode("utf-8-sig")
    except UnicodeDecodeError as error:
        line = raw.count(b"\n", 0, error.start) + 1
        raise FileError(f"line {line}: not UTF-8 text (byte {error.start}); save the file as UTF-8 (a UTF-16 export from a spreadsheet is not)") from None
    return {"csv": _csv_rows, "json": _json_array_rows, "jsonl": _json_lines_rows}[fmt](text)


# --- spreadsheet formulas -------------------------------------------------------------------------
# A cell starting with one of these is run as a formula by spreadsheets (OWASP, "CSV Injection").
# Export puts a ' before such a cell, and before a cell that already starts with ' followed by one
# of them or by another ', so that import, which removes exactly one leading ' in those two cases
# only, gives back every value as it was: "=1+1" → "'=1+1" → "=1+1", "'=x" → "''=x" → "'=x",
# while a hand-written "'hello" (no formula character after the ') is read as it stands.
FORMULA_STARTS = ("=", "+", "-", "@", "\t", "\r")
_QUOTE = "'"


def _needs_quote(cell: str) -> bool:
    return cell.startswith(FORMULA_STARTS) or (cell.startswith(_QUOTE) and cell[1:2] in (*FORMULA_STARTS, _QUOTE))


def neutralised(cell: str) -> str:
    return _QUOTE + cell if cell and _needs_quote(cell) else cell


def unneutralised(cell: str) -> str:
    return cell[1:] if cell.startswith(_QUOTE) and _needs_quote(cell[1:]) else cell


# --- reading ------------------------------------------------------------------------------------

def _csv_rows(text: str) -> list[Row]:
    reader = csv.reader(io.StringIO(text, newline=""))
    try:
        return _csv_rows_of(reader)
    except csv.Error as error:  # e.g. a cell over csv.field_size_limit() characters
        raise FileError(f"line {reader.line_num}: {error}; a profile this large needs a .json file") from None


def _csv_rows_of(reader: Any) -> list[Row]:
    header = [name.strip() for name in next(reader, [])]
    _check_header(header)
    rows = []
    starts_on = reader.line_num + 1
    for cells in reader:
        cells = [unneutralised(cell) for cell in cells]
        # line_num is the last physical line read, so a quoted cell with newlines still gets its first line.
        line, starts_on = starts_on, reader.line_num + 1
        if not any(cell.strip() for cell in cells):
            continue
        if len(cells) > len(header):
            rows.append(Row(line, error=f"{len(cells)} cells but the header has {len(header)} columns"))
            continue
        try:
            # A short row (trailing cells left out) reads its missing cells as empty.
            rows.append(Row(line, record_from_cells(dict(zip(header, cells, strict=False)))))
        except ValueError as error:
            rows.append(Row(line, error=str(error)))
    return rows


def _check_header(header: list[str]) -> None:
    if not any(header):
        raise FileError("line 1: the header row is missing")
    unknown = [name for name in header if name not in CSV_COLUMNS]
    if unknown:
        raise FileError(f"line 1: unknown column(s) {', '.join(map(repr, unknown))}; columns are {', '.join(CSV_COLUMNS)}")
    repeated = sorted({name for name in header if header.count(name) > 1})
    if repeated:
        raise FileError(f"line 1: column(s) {', '.join(repeated)} appear more than once")
    if "display_name" not in header:
        raise FileError("line 1: there is no display_name column")


def record_from_cells(cells: Mapping[str, str]) -> dict[str, Any]:
    """One CSV row as a record; an empty cell means the field is absent (customer_id: derive it)."""
    record: dict[str, Any] = {}
    customer_id = cells.get("customer_id", "").strip()
    if customer_id:
        record["customer_id"] = customer_id
    for name in _PLAIN_FIELDS:
        if name in cells and (name != "avatar" or cells[name].strip()):
            record[name] = cells[name]
    record["channels"] = [{"type": kind, "value": value.strip()}
                          for kind in CHANNEL_COLUMNS for value in cells.get(kind, "").split(VALUE_SEPARATOR) if value.strip()]
    for name, kind in JSON_COLUMNS.items():
        if cells.get(name, "").strip():
            record[name] = _json_cell(name, cells[name], kind)
    # An empty cell leaves the stored opt-out as it is (the store keeps it); a value sets it.
    flag = cells.get(OPTED_OUT_FIELD, "").strip().lower()
    if flag:
        if flag not in _TRUE + _FALSE:
            raise ValueError(f"{OPTED_OUT_FIELD} must be true or false, got {cells[OPTED_OUT_FIELD].strip()!r}")
        record[OPTED_OUT_FIELD] = flag in _TRUE
    if cells.get(OPTED_OUT_CHANGED_AT_FIELD, "").strip():
        record[OPTED_OUT_CHANGED_AT_FIELD] = cells[OPTED_OUT_CHANGED_AT_FIELD].strip()
    extra = record.pop("extra", {})
    clashes = sorted(set(extra) & {*_FIELD_ORDER, *CSV_COLUMNS, SORT_FIELD})
    if clashes:
        raise ValueError(f"extra repeats field(s) {', '.join(clashes)}; use their own columns")
    return {**record, **extra}


def _json_cell(name: str, raw: str, kind: type) -> Any:
    try:
        value = json.loads(raw)
    except json.JSONDecodeError as error:
        raise ValueError(f"{name} is not valid JSON ({error.msg})") from None
    except RecursionError:
        raise ValueError(f"{name} is nested too deeply to read") from None
    if not isinstance(value, kind):
        raise ValueError(f"{name} must be a JSON {'array' if kind is list else 'object'}")
    return value


def _json_array_rows(text: str) -> list[Row]:
    """Each element of the top-level array, with the line it starts on (json.loads would lose that)."""
    decoder = json.JSONDecoder()
    lines = _LineCounter(text)
    pos = _skip_space(text, 0)
    if not text.startswith("[", pos):
        raise FileError(f"line {lines.at(pos)}: a .json file must hold one JSON array of customers")
    rows: list[Row] = []
    pos = _skip_space(text, pos + 1)
    while not text.startswith("]", pos):
        try:
            value, end = decoder.raw_decode(text, pos)
        except json.JSONDecodeError as error:
            raise FileError(f"line {lines.at(error.pos)}: not valid JSON ({error.msg})") from None
        except RecursionError:
            raise FileError(f"line {lines.at(pos)}: a customer nested too deeply to read") from None
        rows.append(_json_row(lines.at(pos), value))
        pos = _skip_space(text, end)
        if text.startswith(",", pos):
            pos = _skip_space(text, pos + 1)
        elif not text.startswith("]", pos):
            raise FileError(f"line {lines.at(pos)}: expected ',' or ']' after a customer")
    if _skip_space(text, pos + 1) != len(text):
        raise FileError(f"line {lines.at(pos)}: text after the closing ']'")
    return rows


def _json_lines_rows(text: str) -> list[Row]:
    rows = []
    for number, line in enumerate(text.splitlines(), 1):
        if not line.strip():
            continue
        try:
            rows.append(_json_row(number, json.loads(line)))
        except json.JSONDecodeError as error:
            rows.append(Row(number, error=f"not valid JSON ({error.msg})"))
        except RecursionError:
            rows.append(Row(number, error="nested too deeply to read"))
    return rows


def _json_row(line: int, value: Any) -> Row:
    if not isinstance(value, dict):
        return Row(line, error="a customer must be a JSON object")
    return Row(line, value)


def _skip_space(text: str, pos: int) -> int:
    while pos < len(text) and text[pos] in " \t\r\n":
        pos += 1
    return pos


class _LineCounter:
    """Line of a character offset; offsets are asked in increasing order, so counting is incremental."""

    def __init__(self, text: str) -> None:
        self._text, self._pos, self._line = text, 0, 1

    def at(self, pos: int) -> int:
        if pos < self._pos:
            return self._text.count("\n", 0, pos) + 1
        self._line += self._text.count("\n", self._pos, pos)
        self._pos = pos
        return self._line


# --- writing ------------------------------------------------------------------------------------

def record_of(customer_id: str, profile: Mapping[str, Any]) -> dict[str, Any]:
    """A stored profile as a file record: its id first, the store's own sort_name left out."""
    record = {"customer_id": customer_id, **{k: _sorted_keys(v) for k, v in profile.items() if k != SORT_FIELD}}
    known = [name for name in _FIELD_ORDER if name in record]
    return {name: record[name] for name in known + sorted(set(record) - set(known))}


def _sorted_keys(value: Any) -> Any:
    # Firestore returns map fields in no fixed order; sorting keeps exports byte-stable and diffable.
    if isinstance(value, Mapping):
        return {key: _sorted_keys(value[key]) for key in sorted(value)}
    if isinstance(value, list):
        return [_sorted_keys(item) for item in value]
    return value


def write_records(out: TextIO, fmt: str, records: Iterable[dict[str, Any]]) -> int:
    records = list(records)
    if fmt == "csv":
        # CRLF (RFC 4180, as spreadsheets write it): with "\n" alone the csv module would not quote a
        # value holding a carriage return, which a reader then takes for the end of the row.
        writer = csv.DictWriter(out, fieldnames=CSV_COLUMNS, lineterminator="\r\n")
        writer.writeheader()
        writer.writerows(cells_of(record) for record in records)
    elif fmt == "jsonl":
        out.writelines(json.dumps(record, ensure_ascii=False, default=str) + "\n" for record in records)
    else:
        out.write(json.dumps(records, ensure_ascii=False, indent=2, default=str) + "\n")
    return len(records)


def cells_of(record: Mapping[str, Any]) -> dict[str, str]:
    """A record as CSV cells; FileError when CSV cannot hold it exactly (JSON always can)."""
    cid = record["customer_id"]
    cells = {name: _text(record.get(name)) for name in ("customer_id", *_PLAIN_FIELDS)}
    for kind in CHANNEL_COLUMNS:
        cells[kind] = VALUE_SEPARATOR.join(_channel_values(cid, record.get("channels") or [], kind))
    # A present-but-empty list or object is written as [] / {}, so it reads back as itself.
    for name in ("links", "details"):
        cells[name] = json.dumps(record[name], ensure_ascii=False, default=str) if name in record else ""
    extra = {k: v for k, v in record.items() if k not in _FIELD_ORDER}
    if set(extra) & set(CSV_COLUMNS):
        raise FileError(f"customer {cid!r}: field(s) {', '.join(sorted(set(extra) & set(CSV_COLUMNS)))} clash with CSV columns; "
                        "export with --format json")
    cells["extra"] = json.dumps(extra, ensure_ascii=False, default=str) if extra else ""
    flag = record.get(OPTED_OUT_FIELD)
    cells[OPTED_OUT_FIELD] = "" if flag is None else "true" if flag is True else "false" if flag is False else str(flag)
    cells[OPTED_OUT_CHANGED_AT_FIELD] = _text(record.get(OPTED_OUT_CHANGED_AT_FIELD))
    cells = {name: neutralised(cell) for name, cell in cells.items()}
    too_long = [name for name, cell in cells.items() if len(cell) > csv.field_size_limit()]
    if too_long:
        raise FileError(f"customer {cid!r}: {too_long[0]} is over {csv.field_size_limit():,} characters, more than a CSV reader takes; "
                        "export with --format json")
    return cells


def _channel_values(customer_id: str, channels: list[Any], kind: str) -> list[str]:
    unknown = [c for c in channels if not isinstance(c, Mapping) or c.get("type") not in CHANNEL_COLUMNS]
    if unknown:
        bad = unknown[0].get("type") if isinstance(unknown[0], Mapping) else unknown[0]
        raise FileError(f"customer {customer_id!r}: channel type {bad!r} has no CSV column; export with --format json")
    values = [str(c.get("value") or "") for c in channels if c.get("type") == kind]
    if any(VALUE_SEPARATOR in value for value in values):
        raise FileError(f"customer {customer_id!r}: a {kind} value contains {VALUE_SEPARATOR!r}; export with --format json")
    return values


def _text(value: Any) -> str:
    return "" if value is None else str(value)
