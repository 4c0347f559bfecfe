"""Defender XDR / Sentinel exports: Advanced Hunting CSV, JSON lines, and the streaming API (Event Hub, Storage).

Column names are Advanced Hunting's (matched case-insensitively). Values are kept as given: an empty CSV cell is
"" for a string column and null for a number or a timestamp; a JSON null stays null. Integers must be exact
(an 18-digit ReportId stays exact: JSON is parsed with Python's json, whose integers are not floats).

The table of a row: the streaming API's `category`; in the other formats `--table`, else a `Type` (Sentinel) or
`Table` column naming it, else the columns of the header, or of the row in a combined (union) export (see
`routing`). Rows of a table ingest knows but does not write (DeviceProcessEvents) and of any other table are
skipped with the reason.
"""

from __future__ import annotations

import csv
import json
import re
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any, BinaryIO

from detector.ingest.base import FileError, Item, Reader, Reject, Row, RowError, Skip, convert_row
from detector.ingest.readers import lines
from detector.ingest.routing import Router, guess_table, shape
from detector.ingest.schema import TABLES, column_name, table_name

csv.field_size_limit(min(sys.maxsize, 2**31 - 1))


_UTC_SUFFIX = re.compile(r"\s*\[UTC\]\s*$", re.IGNORECASE)
_OTHER_SUFFIX = re.compile(r"\s*\[[^\]]*\]\s*$")


def map_record(table: str, record: dict[str, Any]) -> dict[str, Any]:
    """Raw values by output column from a JSON object / CSV row (keys matched case-insensitively). Sentinel's
    TimeGenerated stands in for Timestamp only when there is no Timestamp."""
    values: dict[str, Any] = {}
    time_generated = None
    for key, value in record.items():
        name = column_name(table, key)
        if name is not None:
            values.setdefault(name, value)
        elif key.lower() == "timegenerated":
            time_generated = value
    if values.get("Timestamp") in (None, "") and time_generated not in (None, ""):
        values["Timestamp"] = time_generated
    return values


def _row_item(line: int | None, table: str, record: dict[str, Any]) -> Item:
    try:
        return Row(line, table, convert_row(table, map_record(table, record)))
    except RowError as exc:
        return Reject(line, str(exc))


class DefenderCsv(Reader):
    """Advanced Hunting 'Export' CSV and Sentinel (Log Analytics) CSV exports.

    The header names the columns. Sentinel's `Timestamp [UTC]` / `TimeGenerated [UTC]` lose their suffix; a
    column with another bracketed suffix (e.g. `[Local Time]`) is ignored, as its zone is unknown.
    """

    def __init__(self, table: str | None = None):
        super().__init__()
        self.router = Router(table)

    def records(self, path: Path, label: str, stream: BinaryIO) -> Iterator[Item]:
        state = {"line": 0, "bad_utf8": False}

        def text() -> Iterator[str]:
            for number, raw in enumerate(stream, 1):
                state["line"] = number
                if number == 1 and raw.startswith(b"\xef\xbb\xbf"):
                    raw = raw[3:]
                try:
                    yield raw.decode("utf-8")
                except UnicodeDecodeError:
                    state["bad_utf8"] = True
                    yield raw.decode("utf-8", "replace")

        reader = csv.reader(text())
        header: list[str] | None = None
        ignored: list[str] = []
        fixed: str | Skip | None = None  # the table of every row, when the header alone decides
        columns: str | None = None  # what the header's columns tell (routing.shape)
        while True:
            start = state["line"] + 1
            state["bad_utf8"] = False
            try:
                fields = next(reader)
            except StopIteration:
                break
            except csv.Error as exc:
                if header is None:
                    raise FileError(f"the CSV header cannot be read ({exc})") from None
                yield Reject(start, f"not valid CSV ({exc})")
                continue
            if not fields or (len(fields) == 1 and not fields[0].strip()):
                continue  # blank line
            if header is None:
                header, ignored = _csv_header(fields)
                keys = [h for h in header if h]
                fixed, columns = self.router.fixed(keys), shape(keys)
                if ignored:
                    self.notes.append(f"{label}: ignored column(s) {', '.join(ignored)} (zone not UTC)")
                continue
            if state["bad_utf8"]:
                yield Reject(start, "not valid UTF-8")
                continue
            if len(fields) != len(header):
                yield Reject(start, f"has {len(fields)} fields, the header has {len(header)}")
                continue
            record = {h: v for h, v in zip(header, fields, strict=True) if h}
            table = fixed or self.router.choose(record, columns)
            if isinstance(table, Skip):
                table = Skip(start, table.reason)  # `fixed` is shared by every row
            if not isinstance(table, str):
                table.line = start
                yield table
                continue
            yield _row_item(start, table, record)


def _csv_header(fields: list[str]) -> tuple[list[str], list[str]]:
    """Column names: `[UTC]` suffix dropped; other bracketed suffixes and repeated names become "" (ignored)."""
    names, ignored, seen = [], [], set()
    for raw in fields:
        name = raw.strip()
        if _UTC_SUFFIX.search(name):
            name = _UTC_SUFFIX.sub("", name)
        elif _OTHER_SUFFIX.search(name):
            ignored.append(name)
            name = ""
        if name.lower() in seen:
            name = ""
        seen.add(name.lower())
        names.append(name)
    return names, ignored


def _json_object(raw: bytes) -> tuple[Any, str | None]:
    try:
        return json.loads(raw), None
    except UnicodeDecodeError:
        return None, "not valid UTF-8"
    except ValueError as exc:
        return None, f"not valid JSON ({exc})"


class DefenderJsonl(Reader):
    """One Advanced Hunting row per line as a JSON object (as the API's Results items, or `| project` output)."""

    def __init__(self, table: str | None = None):
        super().__init__()
        self.router = Router(table)

    def records(self, path: Path, label: str, stream: BinaryIO) -> Iterator[Item]:
        for number, line in lines(stream):
            if not line.strip():
                continue
            record, problem = _json_object(line)
            if problem:
                yield Reject(number, problem)
                continue
            if not isinstance(record, dict):
                yield Reject(number, f"a JSON {type(record).__name__}, not an object")
                continue
            table = self.router.choose(record)
            if not isinstance(table, str):
                table.line = number
                yield table
                continue
            yield _row_item(number, table, record)


_CATEGORY = re.compile(r"^AdvancedHunting-(\w+)$", re.IGNORECASE)


class DefenderStream(Reader):
    """The Defender streaming API: Event Hub messages `{"records": [...]}` and Storage-account blobs (one record
    per line, CRLF). A record is `{"time", "tenantId", "category": "AdvancedHunting-<Table>", "properties"}`;
    the table comes from `category`, every value from `properties`. The event time is `properties.Timestamp`:
    the envelope's `time` is when the record was exported, so a record without `properties.Timestamp` is
    rejected rather than stamped with it.

    A file whose first line is not a whole JSON value (a pretty-printed message) is read as a sequence of JSON
    documents; such a file is held in memory whole (Event Hub messages are at most 1 MB).
    """

    def records(self, path: Path, label: str, stream: BinaryIO) -> Iterator[Item]:
        numbered = lines(stream)
        first = True
        for number, line in numbered:
            if not line.strip():
                continue
            document, problem = _json_object(line)
            if problem and (first or line.strip() in (b"{", b"[")):
                rest = b"\n".join([line] + [more for _, more in numbered])
                yield from self._documents(rest, number)
                return
            first = False
            if problem:
                yield Reject(number, problem)
                continue
            yield from self._document(document, number)

    def message(self, data: bytes, where: int) -> Iterator[Item]:
        """The items of one Event Hub message's body (as Event Hubs Capture stores it), reported at `where`."""
        document, problem = _json_object(data)
        if problem:
            yield Reject(where, problem)
            return
        yield from self._document(document, where)

    def _documents(self, data: bytes, first_line: int) -> Iterator[Item]:
        try:
            text = data.decode("utf-8")
        except UnicodeDecodeError:
            yield Reject(first_line, "not valid UTF-8")
            return
        decoder, position = json.JSONDecoder(), 0
        while True:
            while position < len(text) and text[position] in " \t\r\n,":
                position += 1
            if position >= len(text):
                return
            line = first_line + text.count("\n", 0, position)
            try:
                document, position = decoder.raw_decode(text, position)
            except ValueError as exc:
                yield Reject(line, f"not valid JSON ({exc}); the rest of the file is not read")
                return
            yield from self._document(document, line)

    def _document(self, document: Any, line: int) -> Iterator[Item]:
        """A blob line is one record; an Event Hub message holds `records` (reported as `record N` of the
        message that starts at `line`)."""
        if isinstance(document, dict) and isinstance(document.get("records"), list):
            records = document["records"]
        elif isinstance(document, list):
            records = document
        else:
            yield self._record(document, line)
            return
        for index, record in enumerate(records, 1):
            item = self._record(record, line)
            if isinstance(item, Reject):
                item.reason = f"record {index}: {item.reason}"
            yield item

    def _record(self, record: Any, line: int) -> Item:
        if not isinstance(record, dict):
            return Reject(line, f"a JSON {type(record).__name__}, not a record object")
        category = record.get("category")
        properties = record.get("properties")
        if not isinstance(category, str) or not isinstance(properties, dict):
            return Reject(line, "not a streaming API record (needs category and properties)")
        match = _CATEGORY.match(category.strip())
        table = table_name(match.group(1)) if match else None
        if table is None:
            return Skip(line, f"records of another table ({category.strip()})")
        if properties.get("Timestamp") in (None, ""):
            return Reject(line, "properties.Timestamp is missing (the envelope's time is not the event time)")
        try:
            return Row(line, table, convert_row(table, map_record(table, properties)))
        except RowError as exc:
            return Reject(line, str(exc))


__all__ = ["TABLES", "DefenderCsv", "DefenderJsonl", "DefenderStream", "guess_table"]
