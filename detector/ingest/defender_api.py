"""The Advanced Hunting API's JSON document: the response of `POST https://api.security.microsoft.com/api/
advancedhunting/run` (`{"Stats": {...}, "Schema": [{"Name", "Type"}, ...], "Results": [{...}, ...]}`) and of
Microsoft Graph's `security/runHuntingQuery` (`schema` / `results`, `name` / `type`). Keys are matched
case-insensitively, so both spellings (and mixtures, as Microsoft's own examples show) are read.

Values are typed by the Schema: a `DateTime` column's text is parsed as a timestamp, an `Int64` must be an exact
integer, a `Boolean` true or false, an `Object` is kept as JSON, ... (`SCHEMA_TYPES`); a value that is not of its
declared type is rejected, naming the column and the type. The typed value is then written as the table's column
(`schema.convert`): a string column keeps the text as the API gave it.

Rows are routed as in the other exports (`routing`): --table, a Type / Table column, else the Schema's columns,
row by row for a combined (union) document. Row numbers in messages are positions in Results, from 1.

Streaming: the document is read in chunks and Results one row at a time, so memory does not grow with the number
of rows, as long as Schema comes before Results (as the API writes it); if Results comes first its rows are held
in memory until Schema is read.
"""

from __future__ import annotations

import io
import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any, BinaryIO

from detector.ingest.base import FileError, Item, Reader, Reject, Row, RowError, Skip, convert_row
from detector.ingest.defender import map_record
from detector.ingest.routing import Router, shape
from detector.ingest.schema import COLUMNS, convert

# The Schema's type names (lower-cased: .NET's, as the API writes them, and Kusto's) -> the Kusto type to read as.
SCHEMA_TYPES = {
    "datetime": "datetime",
    "string": "string",
    "int64": "long",
    "long": "long",
    "int32": "int",
    "int": "int",
    "boolean": "bool",
    "bool": "bool",
    "sbyte": "bool",  # Kusto's bool is System.SByte in .NET clients
    "double": "real",
    "real": "real",
    "decimal": "real",
    "object": "dynamic",
    "dynamic": "dynamic",
    "guid": "guid",
}
_TEXT = ("string", "guid", "dynamic")
_CHUNK = 1 << 20


class DefenderApi(Reader):
    """One Advanced Hunting API response per file (see the module's doc)."""

    def __init__(self, table: str | None = None):
        super().__init__()
        self.router = Router(table)

    def records(self, path: Path, label: str, stream: BinaryIO) -> Iterator[Item]:
        document = _Cursor(stream)
        try:
            if document.peek() != "{":
                raise FileError("not a JSON object: not an Advanced Hunting API response (Schema and Results)")
            document.skip(1)
            declared: dict[str, tuple[str | None, str]] | None = None
            held: list[Any] | None = None  # Results read before Schema
            found_results = False
            for key in document.members():
                if key.lower() == "schema":
                    declared = self._schema(document.value(), label)
                elif key.lower() == "results":
                    found_results = True
                    if document.peek() != "[":
                        raise FileError(f"{key} is not a list of rows")
                    if declared is None:
                        held = list(document.elements())
                    else:
                        yield from self._rows(declared, document.elements())
                else:
                    document.value()  # Stats, @odata.context: not needed
            if not found_results:
                raise FileError("no Results (or results): not an Advanced Hunting API response")
            if declared is None:
                raise FileError("no Schema (or schema) giving the column types: not an Advanced Hunting API response")
            if held is not None:
                yield from self._rows(declared, iter(held))
        except json.JSONDecodeError as exc:  # a truncated or corrupt document
            at = document.base + exc.pos  # exc.pos counts from the chunk read, not from the file's start
            raise FileError(f"not valid JSON at character {at:,} ({exc.msg})") from None

    def _schema(self, value: Any, label: str) -> dict[str, tuple[str | None, str]]:
        """Column -> (the Kusto type to read it as, None to keep its values as given; the declared type)."""
        if not isinstance(value, list):
            raise FileError("Schema is not a list of {Name, Type}")
        declared = {}
        for column in value:
            fields = {k.lower(): v for k, v in column.items()} if isinstance(column, dict) else {}
            name, kind = fields.get("name"), fields.get("type")
            if not isinstance(name, str) or not isinstance(kind, str):
                raise FileError(f"Schema entry {json.dumps(column)[:80]} is not a {{Name, Type}} object")
            declared[name] = (SCHEMA_TYPES.get(kind.lower()), kind)
        unknown = sorted({kind for typed, kind in declared.values() if typed is None})
        if unknown:
            self.notes.append(f"{label}: Schema type(s) {', '.join(unknown)} not checked: values kept as given")
        return declared

    def _rows(self, declared: dict[str, tuple[str | None, str]], items: Iterator[Any]) -> Iterator[Item]:
        names = list(declared)
        columns = shape(names)
        lowered = {name.lower(): types for name, types in declared.items()}
        fixed: str | Skip | None = None
        for index, item in enumerate(items, 1):
            if index == 1:  # an empty Results needs no table
                fixed = self.router.fixed(names, "the Schema")
            if not isinstance(item, dict):
                yield Reject(None, f"row {index}: a JSON {type(item).__name__}, not an object")
                continue
            table = fixed or self.router.choose(item, columns)
            if isinstance(table, Skip):
                yield table
                continue
            if isinstance(table, Reject):
                yield Reject(None, f"row {index}: {table.reason}")
                continue
            try:
                yield Row(None, table, convert_row(table, _typed(table, map_record(table, item), lowered)))
            except RowError as exc:
                yield Reject(None, f"row {index}: {exc}")


def _typed(table: str, values: dict[str, Any], declared: dict[str, tuple[str | None, str]]) -> dict[str, Any]:
    """Check every value against its declared type; keep the typed value unless the column is text."""
    kinds = COLUMNS[table]
    for name, raw in values.items():
        kind, named = declared.get(name.lower(), (None, ""))
        if kind is None or raw is None:
            continue
        try:
            typed = convert(kind, raw)
        except ValueError as exc:
            raise RowError(f"{name}: {exc} (declared {named} in the Schema)") from None
        if kinds[name] not in _TEXT:
            values[name] = typed
    return values


class _Cursor:
    """A JSON document read in chunks: `raw_decode` one value at a time, reading more text when a value does not
    end inside what has been read (the read size doubles each time, so a huge value costs linear time)."""

    def __init__(self, stream: BinaryIO):
        self.text = io.TextIOWrapper(stream, encoding="utf-8-sig")  # type: ignore[arg-type]
        self.buffer, self.position, self.eof = "", 0, False
        self.base = 0  # characters of the document before `buffer`
        self.decoder = json.JSONDecoder()

    def _more(self) -> bool:
        if self.eof:
            return False
        chunk = self.text.read(max(_CHUNK, len(self.buffer) - self.position))
        self.base += self.position
        self.buffer, self.position = self.buffer[self.position :] + chunk, 0
        self.eof = not chunk
        return bool(chunk)

    def peek(self) -> str:
        """The next character that is not white space ("" at the end)."""
        while True:
            while self.position < len(self.buffer) and self.buffer[self.position] in " \t\r\n":
                self.position += 1
            if self.position < len(self.buffer) or not self._more():
                return self.buffer[self.position : self.position + 1]

    def skip(self, count: int) -> None:
        self.position += count

    def value(self) -> Any:
        self.peek()
        while True:
            try:
                value, end = self.decoder.raw_decode(self.buffer, self.position)
            except json.JSONDecodeError:
                if self._more():
                    continue
                raise
            if end == len(self.buffer) and self._more():  # a number may go on in the next chunk
                continue
            self.position = end
            return value

    def _separated(self, close: str) -> Iterator[None]:
        """Positions at each member of an object / array (its opening bracket already skipped)."""
        first = True
        while True:
            char = self.peek()
            if char == close:
                self.skip(1)
                return
            if not first:
                if char != ",":
                    raise json.JSONDecodeError(f"Expecting ',' or '{close}'", self.buffer, self.position)
                self.skip(1)
            first = False
            yield

    def members(self) -> Iterator[str]:
        """The keys of the object being read; the caller reads each value."""
        for _ in self._separated("}"):
            key = self.value()
            if not isinstance(key, str) or self.peek() != ":":
                raise json.JSONDecodeError("Expecting a key and ':'", self.buffer, self.position)
            self.skip(1)
            yield key

    def elements(self) -> Iterator[Any]:
        """The elements of the array at the cursor, one at a time."""
        self.peek()
        self.skip(1)  # "["
        for _ in self._separated("]"):
            yield self.value()
