"""Write a result as table / jsonl / json / csv / parquet (ocsf: detector.ocsf builds the text). Files are written
to a temporary sibling and renamed into place, so a failed or interrupted run never leaves a half-written file or
destroys the previous one."""

from __future__ import annotations

import contextlib
import csv
import io
import json
import os
import tempfile
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import IO, TYPE_CHECKING

import pyarrow as pa
import pyarrow.parquet as pq

if TYPE_CHECKING:
    from detector.rule import Rule

FORMATS = ("table", "jsonl", "json", "csv", "parquet", "ocsf")


def iso(value: datetime) -> str:
    """Instants as ISO-8601 UTC with microseconds and a Z, like Kusto (which prints 7 digits)."""
    return value.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%S.%fZ")


def json_default(value: object) -> str:
    """json.dumps default: instants as ISO-8601 UTC text (iso)."""
    if isinstance(value, datetime):
        return iso(value)
    raise TypeError(f"cannot write {type(value).__name__} as JSON")


def to_json(record: object) -> str:
    return json.dumps(record, ensure_ascii=False, default=json_default, separators=(",", ":"))


@dataclass(frozen=True)
class Layout:
    """How `--format table` lays a rule's records out (from rule.toml [output])."""

    key: tuple[str, ...] = ()  # what identifies a record: counted in the footer, named once per group
    nested: str | None = None  # a list of objects spread over one line each
    record_noun: str = "record"
    row_noun: str = "row"
    columns: tuple[str, ...] = ()  # the columns shown (default: all)


def layout_for(rule: Rule, flat: bool = False) -> Layout:
    o = rule.output
    return Layout(
        key=o.key,
        nested=None if flat else o.nested_column,
        record_noun=o.record_noun,
        row_noun=o.row_noun,
        columns=() if flat else o.table_columns,
    )


def table_records(table: pa.Table) -> list[dict]:
    return table.to_pylist()


def render_text(table: pa.Table, fmt: str, layout: Layout | None = None) -> str:
    """The result as text in one of the text formats."""
    if fmt == "table":
        return _table(table_records(table), layout or Layout())
    return records_text(table_records(table), fmt, table.column_names)


def records_text(records: list[dict], fmt: str, columns: list[str] | None = None) -> str:
    """Records as jsonl, json or csv (csv: `columns`, default the union of the records' keys in first-seen order)."""
    if fmt == "jsonl":
        return "".join(to_json(r) + "\n" for r in records)
    if fmt == "json":
        return json.dumps(records, ensure_ascii=False, default=json_default, indent=2) + "\n"
    if fmt == "csv":
        return _csv(columns or list(dict.fromkeys(c for r in records for c in r)), records)
    raise ValueError(f"not a text format: {fmt}")


def _cell(value: object) -> str:
    if value is None:
        return ""
    if isinstance(value, datetime):
        return iso(value)
    if isinstance(value, list | dict):
        return to_json(value)
    return str(value)


def _table_cell(value: object) -> str:
    """For people: a list of strings comma-separated, the empty string (e.g. a connection without a URL) as ""."""
    if isinstance(value, list) and value and all(isinstance(v, str) for v in value):
        return ", ".join(v or '""' for v in value)
    return _cell(value)


def _csv(columns: list[str], records: list[dict]) -> str:
    buf = io.StringIO()
    writer = csv.writer(buf, lineterminator="\n")
    writer.writerow(columns)
    for r in records:
        writer.writerow([_cell(r.get(c)) for c in columns])
    return buf.getvalue()


def _rows_for_table(records: list[dict], layout: Layout) -> list[dict]:
    """Nested records become one line per element of their nested list; flat ones stay as they are."""
    if layout.nested is None:
        return records
    rows = []
    for r in records:
        outer = {k: v for k, v in r.items() if k != layout.nested}
        elements = r.get(layout.nested) or [{}]
        rows.extend({**outer, **(e if isinstance(e, dict) else {layout.nested: e})} for e in elements)
    return rows


def _table(records: list[dict], layout: Layout) -> str:
    rows = _rows_for_table(records, layout)
    if not rows:
        return "no alerts\n"
    columns = list(layout.columns or dict.fromkeys(c for r in rows for c in r))
    cells = [[_table_cell(r.get(c)) for c in columns] for r in rows]
    widths = [max(len(c), *(len(row[i]) for row in cells)) for i, c in enumerate(columns)]
    lines = ["  ".join(c.ljust(w) for c, w in zip(columns, widths, strict=True)).rstrip()]
    lines.append("  ".join("-" * w for w in widths))
    previous = None
    for row in cells:
        shown = list(row)
        if row[0] == previous and layout.key and columns[0] == layout.key[0]:
            shown[0] = ""  # one record, several lines: name it once
        previous = row[0]
        lines.append("  ".join(c.ljust(w) for c, w in zip(shown, widths, strict=True)).rstrip())
    keys = [k for k in layout.key if k in rows[0]]
    records_seen = len({tuple(_cell(r.get(k)) for k in keys) for r in rows}) if keys else len(records)
    lines.append(f"\n{records_seen} {layout.record_noun}(s), {len(rows)} {layout.row_noun}(s)")
    return "\n".join(lines) + "\n"


@contextlib.contextmanager
def atomic_file(path: Path, mode: str = "w") -> Iterator[IO]:
    """Open a temporary file beside `path`; rename it onto `path` only if the block succeeds. A path that is not a
    regular file (/dev/null, /dev/stdout, a named pipe) is written in place: renaming onto it would replace it."""
    path = Path(path)
    if path.is_dir():
        raise IsADirectoryError(f"--output {path} is a folder")
    if path.exists() and not path.is_file():
        with open(path, mode, **({"encoding": "utf-8", "newline": ""} if "b" not in mode else {})) as fh:
            yield fh
        return
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent or ".")
    try:
        with os.fdopen(fd, mode, **({"encoding": "utf-8", "newline": ""} if "b" not in mode else {})) as fh:
            yield fh
        os.replace(tmp, path)
    except BaseException:
        with contextlib.suppress(FileNotFoundError):
            os.unlink(tmp)
        raise


def write(table: pa.Table, fmt: str, output: Path | None, stdout: IO[str], layout: Layout | None = None) -> None:
    if fmt == "parquet":
        if output is None:
            raise ValueError("--format parquet needs --output PATH")
        with atomic_file(output, "wb") as fh:
            pq.write_table(table, fh)
        return
    write_text(render_text(table, fmt, layout), output, stdout)


def write_text(text: str, output: Path | None, stdout: IO[str]) -> None:
    if output is None:
        stdout.write(text)
        return
    with atomic_file(output) as fh:
        fh.write(text)
