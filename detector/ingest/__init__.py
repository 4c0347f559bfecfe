"""Convert exports and logs into the Parquet layout `detector run --data DIR` reads.

    from detector.ingest import ingest
    summary = ingest("sysmon", [Path("logs/")], Path("data/"), assets=Path("assets.csv"))
    print(summary.render())

Layout: `OUT/DeviceNetworkEvents/date=YYYY-MM-DD/part-KEY-NNNNN.parquet` and the same for DeviceInfo and
DeviceFileEvents (`TABLES`), one day (UTC, of Timestamp) per folder, every documented column of the table
(`detector.ingest.schema`). A row's table comes from the streaming API's category, --table, a Type/Table column or
the columns, row by row in a combined (union) export (see `routing`); DeviceProcessEvents rows are recognised and
skipped.

Formats (`fmt`):
- `defender-csv`: Advanced Hunting CSV export, or a Sentinel / Log Analytics CSV export (see `defender`).
- `defender-jsonl`: one Advanced Hunting row per line as a JSON object.
- `defender-api`: the Advanced Hunting API's JSON response (Schema, Results), or Graph's runHuntingQuery's
  (see `defender_api`); values typed by the Schema.
- `defender-stream`: the streaming API's Event Hub messages and Storage-account blobs (folders are walked).
- `defender-capture`: Event Hubs Capture Avro files of the streaming API's messages (see `capture`; fastavro).
- `sysmon`: Sysmon 3 / Security 5156 JSON lines from NXLog, Winlogbeat, Logstash (see `sysmon`).
Inputs may be files or folders (walked), plain, .gz, or .zip (every member).

Streaming: inputs are read line by line (API documents value by value, Avro files event by event) and rows are
written every `chunk_rows` rows as separate part files, so memory does not grow with the input. (The sysmon reader
keeps, between its two passes, one dictionary entry per process creation and per distinct image path, and one
integer per Sysmon 3 connection; an API document whose Results come before its Schema is held whole.)

Errors: a bad row is rejected, counted and reported with its file and line; a file that cannot be read (missing,
corrupt, truncated) is reported and the other files are still ingested; rows read before a file broke are kept.
Re-running is safe: see `detector.ingest.writer`.
"""

from __future__ import annotations

import csv
from collections.abc import Callable
from pathlib import Path

from detector.errors import ParamError
from detector.ingest import readers
from detector.ingest.base import FileError, Reader, Reject, Row, Skip
from detector.ingest.capture import Capture
from detector.ingest.defender import DefenderCsv, DefenderJsonl, DefenderStream
from detector.ingest.defender_api import DefenderApi
from detector.ingest.iptype import classify_ip, normalize_ip
from detector.ingest.schema import SCHEMAS, TABLES, table_name
from detector.ingest.summary import Device, FileSummary, IngestSummary, RejectedRow
from detector.ingest.sysmon import Sysmon, company_from_path, load_assets
from detector.ingest.writer import PartWriter, source_key

FORMATS = ("defender-csv", "defender-jsonl", "defender-api", "defender-stream", "defender-capture", "sysmon")
_TABLE_FORMATS = ("defender-csv", "defender-jsonl", "defender-api")  # --table applies to these
PROGRESS_EVERY = 10_000

Progress = Callable[[str, int], None]


def ingest(
    fmt: str,
    inputs: list[Path],
    out: Path,
    *,
    assets: Path | None = None,
    table: str | None = None,
    progress: Progress | None = None,
    chunk_rows: int = 50_000,
) -> IngestSummary:
    """Read `inputs` in format `fmt` and write the Parquet layout under `out`.

    `assets`: CSV (DeviceName, DeviceType, OSPlatform) for the sysmon format's DeviceInfo. `table`: force the
    table of defender-csv / defender-jsonl rows. `progress(label, rows_read)` is called every PROGRESS_EVERY
    records and at the end of each file (the label starts with "scan " in the sysmon reader's first pass).
    Raises ParamError for bad arguments; problems with the inputs are reported in the summary, never raised.
    """
    reader = _reader(fmt, table, assets)
    out = Path(out)
    if out.exists() and not out.is_dir():
        raise ParamError("--out", f"{out} exists and is not a folder")
    if chunk_rows < 1:
        raise ParamError("--chunk-rows", f"{chunk_rows} must be at least 1")
    found = readers.expand([Path(p) for p in inputs], fmt)
    summary = IngestSummary(fmt=fmt, out=out)
    if not found:
        return summary
    if reader.two_pass:
        for path, problem in found:
            if problem is None:
                _scan(reader, path, progress)
    out.mkdir(parents=True, exist_ok=True)
    writer = PartWriter(out, chunk_rows)
    for path, problem in found:
        file_summary = FileSummary(str(path))
        summary.files.append(file_summary)
        if problem is not None:
            file_summary.error = problem
            continue
        _read_file(reader, fmt, path, writer, file_summary, progress)
    reader.finish()
    summary.devices.extend(reader.devices)
    summary.notes.extend(reader.notes)
    written = summary.written
    if written:  # a rule reads several tables: say which ones are still missing from OUT
        for name in TABLES:
            if not written[name] and not (out / name).is_dir():
                summary.notes.append(f"no {name} rows: rules that read {name} need {out / name}/ too")
    return summary


def _reader(fmt: str, table: str | None, assets: Path | None) -> Reader:
    if fmt not in FORMATS:
        raise ParamError("--from", f"{fmt!r} is not one of {', '.join(FORMATS)}")
    forced = None
    if table is not None:
        forced = table_name(table)
        if forced is None:
            raise ParamError("--table", f"{table!r} is not one of {', '.join(TABLES)}")
        if fmt not in _TABLE_FORMATS:
            raise ParamError("--table", f"applies to {', '.join(_TABLE_FORMATS)}, not {fmt}")
    if assets is not None and fmt != "sysmon":
        raise ParamError("--assets", f"applies to --from sysmon only, not {fmt}")
    if fmt == "defender-csv":
        return DefenderCsv(forced)
    if fmt == "defender-jsonl":
        return DefenderJsonl(forced)
    if fmt == "defender-api":
        return DefenderApi(forced)
    if fmt == "defender-stream":
        return DefenderStream()
    if fmt == "defender-capture":
        return Capture()
    return Sysmon(load_assets(Path(assets)) if assets is not None else None)


def _scan(reader: Reader, path: Path, progress: Progress | None) -> None:
    """First pass; a broken file is reported by the second pass, which meets the same error."""
    try:
        with readers.members(path) as opened:
            for label, stream in opened:
                if progress:
                    progress(f"scan {label}", 0)
                reader.scan(path, label, stream)
    except (*readers.READ_ERRORS, FileError):
        pass


def _read_file(
    reader: Reader,
    fmt: str,
    path: Path,
    writer: PartWriter,
    summary: FileSummary,
    progress: Progress | None,
) -> None:
    writer.start(source_key(fmt, path))
    label, line = str(path), None
    try:
        with readers.members(path) as opened:
            for label, stream in opened:
                for item in reader.records(path, label, stream):
                    summary.read += 1
                    line = item.line
                    if isinstance(item, Row):
                        writer.add(item.table, item.values)
                        summary.written[item.table] += 1
                    elif isinstance(item, Skip):
                        summary.skip(item.reason)
                    elif isinstance(item, Reject):
                        summary.reject(item.line, item.reason, label)
                    if progress and summary.read % PROGRESS_EVERY == 0:
                        progress(label, summary.read)
    except (*readers.READ_ERRORS, csv.Error, FileError) as exc:
        where = f" (after line {line})" if line else ""
        summary.error = f"{_describe(exc)}{where}"
    if summary.read:
        for row in reader.after_file(path):
            writer.add(row.table, row.values)
            summary.written[row.table] += 1
    if summary.error and not summary.read:
        writer.abort()
    else:
        summary.parts = writer.commit()
    if progress:
        progress(label, summary.read)


def _describe(exc: BaseException) -> str:
    text = str(exc).strip().splitlines()[0] if str(exc).strip() else ""
    if isinstance(exc, OSError) and exc.strerror:
        text = exc.strerror
    name = type(exc).__name__
    return f"{name}: {text}" if text else name


__all__ = [
    "FORMATS",
    "SCHEMAS",
    "TABLES",
    "Device",
    "FileSummary",
    "IngestSummary",
    "RejectedRow",
    "classify_ip",
    "company_from_path",
    "ingest",
    "normalize_ip",
]
