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
            "Advanced Hunting row per line), defender-stream (streaming API: Event Hub messages, Storage blobs), "
            "sysmon (Sysmon 3 / Security 5156 JSON lines from NXLog, Winlogbeat, Logstash).",
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
            help="defender-csv / defender-jsonl: the table the rows belong to (DeviceNetworkEvents, DeviceInfo or "
            "DeviceFileEvents), when neither a Type / Table column nor the columns tell.",
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

    defender-*: a row's table is --table, else its Type (Sentinel) or Table column, else the streaming API's
    category, else its columns: RemoteIP & co. for DeviceNetworkEvents, OSPlatform & co. for DeviceInfo,
    FileName + FolderPath + SHA256 (or a column only file events have, e.g. PreviousFileName) for
    DeviceFileEvents. DeviceProcessEvents rows are recognised and skipped. Every documented column is written
    (null when the input lacks it).

    Bad rows are rejected and reported with their file and line (the first 5 per file; counts for all). A file
    that cannot be read is reported and the others are still ingested.

    sysmon: outbound Sysmon 3 and Security 5156 events become ConnectionSuccess rows (a 5156 repeating a Sysmon 3
    is dropped); DeviceName is the logged host name in lower case, DeviceId a hash of it; RemoteIPType follows
    Defender's labels, link-local (169.254/16, fe80::/10) counted as Private; the company comes from the Sysmon 1
    of the process, else from the image path (Program Files\\VENDOR -> VENDOR, Windows -> Microsoft Corporation).

    Re-running is safe: each input file's part files are named after a hash of its path and replaced as a whole
    when that file is ingested again, so rows are never duplicated; other files' parts in DIR are kept.

    Exit codes: 0 when at least one input could be read (even with rejected rows); 2 when nothing could be read
    or the options are wrong.
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
