"""`detector ingest`: convert Defender / Sentinel exports and Sysmon logs into the Parquet layout `run` reads."""

from __future__ import annotations

import sys
from pathlib import Path
from typing import Annotated

import typer

from detector.errors import SourceError
from detector.ingest import ingest as ingest_files


def ingest(
    inputs: Annotated[
        list[Path],
        typer.Argument(
            metavar="INPUT",
            help="Files or folders (walked) to read: plain, .gz or .zip (every member is read).",
            show_default=False,
        ),
    ],
    fmt: Annotated[
        str,
        typer.Option(
            "--from",
            metavar="FORMAT",
            help="Input format: defender-csv (Advanced Hunting or Sentinel CSV export), defender-jsonl (one "
            "Advanced Hunting row per line), defender-api (the Advanced Hunting API's JSON response: Schema and "
            "Results), defender-stream (streaming API: Event Hub messages, Storage blobs), defender-capture (Event "
            "Hubs Capture Avro files of the streaming API; needs the capture extra), sysmon (Sysmon 3 / Security "
            "5156 JSON lines from NXLog, Winlogbeat, Logstash).",
            show_default=False,
        ),
    ],
    out: Annotated[
        Path,
        typer.Option(
            "--out",
            help="Folder to write DeviceNetworkEvents/, DeviceInfo/ and DeviceFileEvents/ into (created if "
            "missing); give the same folder to `detector run --data`.",
            show_default=False,
        ),
    ],
    assets: Annotated[
        Path | None,
        typer.Option(
            "--assets",
            metavar="CSV",
            help="sysmon only: CSV with columns DeviceName, DeviceType, OSPlatform giving each host's DeviceInfo "
            "(a name matches the full host name or its first label). Hosts it does not name are classified by "
            "the heuristic: domain controllers are Server, every other host Workstation.",
            show_default=False,
        ),
    ] = None,
    table: Annotated[
        str | None,
        typer.Option(
            "--table",
            metavar="NAME",
            help="defender-csv / defender-jsonl / defender-api: the table all rows belong to (DeviceNetworkEvents, "
            "DeviceInfo or DeviceFileEvents), when neither a Type / Table column nor the columns tell.",
            show_default=False,
        ),
    ] = None,
    chunk_rows: Annotated[
        int,
        typer.Option("--chunk-rows", help="Rows buffered before a part file is written (bounds memory)."),
    ] = 50_000,
) -> None:
    """Convert exports and logs into DIR/DeviceNetworkEvents/date=YYYY-MM-DD/*.parquet, DIR/DeviceInfo/... and
    DIR/DeviceFileEvents/..., the layout `detector run --data DIR` reads, and print what was read, written,
    skipped and rejected per file.

    defender-*: a row's table is the streaming API's category (defender-stream, defender-capture), else --table,
    else its Type (Sentinel) or Table (union withsource=Table) column, else the columns of the header (CSV header,
    API Schema, a JSON line's keys): RemoteIP & co. for DeviceNetworkEvents, OSPlatform & co. for DeviceInfo,
    FileName + FolderPath + SHA256 (or a column only file events have, e.g. PreviousFileName) for
    DeviceFileEvents. When the header has the columns of several tables (a union query), each row goes by its
    filled columns; a row filling columns of two tables (a join) is skipped, one filling only shared columns is
    rejected. DeviceProcessEvents rows are recognised and skipped. Every documented column is written (null when
    the input lacks it).

    defender-api: a response of api.security.microsoft.com/api/advancedhunting/run or of Microsoft Graph's
    security/runHuntingQuery; each value must be of its Schema type (DateTime, Int64, Boolean, ...) or the row is
    rejected. Results are read one row at a time. defender-capture: each Capture event's Body is read as a
    streaming API message.

    Bad rows are rejected and reported with their file and line (API documents: the row of Results; Capture
    files: the event), the first 5 per file, counts for all. A file that cannot be read (not the format, an Avro
    file of another schema, corrupt, truncated) is reported on one line and the others are still ingested.

    sysmon: outbound Sysmon 3 and Security 5156 events become ConnectionSuccess rows (a 5156 repeating a Sysmon 3
    is dropped); DeviceName is the logged host name in lower case, DeviceId a hash of it; RemoteIPType follows
    Defender's labels, link-local (169.254/16, fe80::/10) counted as Private; the company comes from the Sysmon 1
    of the process, else from the image path (Program Files\\VENDOR -> VENDOR, Windows -> Microsoft Corporation).

    Re-running is safe: each input file's part files are named after a hash of its path and replaced as a whole
    when that file is ingested again, so rows are never duplicated; other files' parts in DIR are kept.

    Exit codes: 0 when at least one input could be read (even with rejected rows); 2 when nothing could be read
    or the options are wrong.

    Examples (the repository's test fixtures):

      detector ingest --from defender-api tests/data/ingest/api_advancedhunting_run.json --out /tmp/ah

      detector ingest --from defender-capture tests/data/ingest/eventhubs_capture.avro --out /tmp/ah

      detector ingest --from defender-csv tests/data/ingest/union_export.csv --out /tmp/ah
    """
    show = sys.stderr.isatty()

    def progress(label: str, rows: int) -> None:
        if show:
            name = label if len(label) <= 60 else "..." + label[-57:]
            print(f"\r\033[K{name}: {rows:,} records", end="", file=sys.stderr, flush=True)

    summary = ingest_files(fmt, inputs, out, assets=assets, table=table, progress=progress, chunk_rows=chunk_rows)
    if show:
        print("\r\033[K", end="", file=sys.stderr, flush=True)
    typer.echo(summary.render())
    if summary.nothing_read:
        raise SourceError("nothing could be read from the inputs (see above)")
