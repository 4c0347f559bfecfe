"""Write a result as table / jsonl / json / csv / parquet. Files are written to a temporary sibling and renamed
into place, so a failed or interrupted run never leaves a half-written file or destroys the previous one."""

from __future__ import annotations

import contextlib
import csv
import io
import json
import os
import tempfile
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path
from typing import IO

import pyarrow as pa
import pyarrow.parquet as pq

FORMATS = ("table", "jsonl", "json", "csv", "parquet")


def iso(value: datetime) -> str:
    """Instants as ISO-8601 UTC with microseconds and a Z, like Kusto (which prints 7 digits)."""
    return value.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%S.%fZ")


def _json_default(value: object) -> str:
    if isinstance(value, datetime):
        return iso(value)
    raise TypeError(f"cannot write {type(value).__name__} as JSON")


def to_json(record: object) -> str:
    return json.dumps(record, ensure_ascii=False, default=_json_default, separators=(",", ":"))


def render_text(table: pa.Table, fmt: str) -> str:
    """The result as text in one of the text formats."""
    records = table.to_pylist()
    if fmt == "jsonl":
        return "".join(to_json(r) + "\n" for r in records)
    if fmt == "json":
        return json.dumps(records, ensure_ascii=False, default=_json_default, indent=2) + "\n"
    if fmt == "csv":
        return _csv(table.column_names, records)
    if fmt == "table":
        return _table(records)
    raise ValueError(f"not a text format: {fmt}")


def _cell(value: object) -> str:
    if value is None:
        return ""
    if isinstance(value, datetime):
        return iso(value)
    if isinstance(value, list | dict):
        return to_json(value)
    return str(value)


def _csv(columns: list[str], records: list[dict]) -> str:
    buf = io.StringIO()
    writer = csv.writer(buf, lineterminator="\n")
    writer.writerow(columns)
    for r in records:
        writer.writerow([_cell(r[c]) for c in columns])
    return buf.getvalue()


def _rows_for_table(records: list[dict]) -> list[dict]:
    """Nested records (DeviceName + set_Details) become one line per detail; flat ones stay as they are."""
    rows = []
    for r in records:
        if "set_Details" in r:
            rows.extend({"DeviceName": r["DeviceName"], **d} for d in r["set_Details"])
        else:
            rows.append(r)
    return rows


def _urls(urls: list[str] | None) -> str:
    """A URL set for people: comma-separated, the empty URL (a connection without one) shown as ""."""
    return ", ".join(u or '""' for u in urls or [])


def _table(records: list[dict]) -> str:
    rows = _rows_for_table(records)
    if not rows:
        return "no alerts\n"
    columns = list(rows[0])
    cells = [[_cell(r[c]) if c != "URLs" else _urls(r[c]) for c in columns] for r in rows]
    widths = [max(len(c), *(len(row[i]) for row in cells)) for i, c in enumerate(columns)]
    lines = ["  ".join(c.ljust(w) for c, w in zip(columns, widths, strict=True)).rstrip()]
    lines.append("  ".join("-" * w for w in widths))
    previous = None
    for row in cells:
        shown = list(row)
        if row[0] == previous:
            shown[0] = ""  # one device, several destinations: name it once
        previous = row[0]
        lines.append("  ".join(c.ljust(w) for c, w in zip(shown, widths, strict=True)).rstrip())
    devices = len({r["DeviceName"] for r in rows})
    lines.append(f"\n{devices} device(s), {len(rows)} connection(s)")
    return "\n".join(lines) + "\n"


@contextlib.contextmanager
def atomic_file(path: Path, mode: str = "w") -> Iterator[IO]:
    """Open a temporary file beside `path`; rename it onto `path` only if the block succeeds."""
    path = Path(path)
    if path.is_dir():
        raise IsADirectoryError(f"--output {path} is a folder")
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent or ".")
    try:
        with os.fdopen(fd, mode, **({"encoding": "utf-8", "newline": ""} if "b" not in mode else {})) as fh:
            yield fh
        os.replace(tmp, path)
    except BaseException:
        with contextlib.suppress(FileNotFoundError):
            os.unlink(tmp)
        raise


def write(table: pa.Table, fmt: str, output: Path | None, stdout: IO[str]) -> None:
    if fmt == "parquet":
        if output is None:
            raise ValueError("--format parquet needs --output PATH")
        with atomic_file(output, "wb") as fh:
            pq.write_table(table, fh)
        return
    text = render_text(table, fmt)
    if output is None:
        stdout.write(text)
        return
    with atomic_file(output) as fh:
        fh.write(text)
