"""Write tiny Defender-shaped tables to Parquet for tests.

Rows are dicts; a missing key is a null. Timestamps are timezone-aware datetimes (UTC) or None.
"""

from __future__ import annotations

from pathlib import Path

import pyarrow as pa
import pyarrow.parquet as pq

TS = pa.timestamp("us", tz="UTC")

SCHEMAS: dict[str, pa.Schema] = {
    "DeviceInfo": pa.schema(
        [
            ("Timestamp", TS),
            ("DeviceId", pa.string()),
            ("DeviceName", pa.string()),
            ("DeviceType", pa.string()),
            ("OSPlatform", pa.string()),
        ]
    ),
    "DeviceNetworkEvents": pa.schema(
        [
            ("Timestamp", TS),
            ("DeviceId", pa.string()),
            ("DeviceName", pa.string()),
            ("ActionType", pa.string()),
            ("RemoteIP", pa.string()),
            ("RemotePort", pa.int32()),
            ("RemoteUrl", pa.string()),
            ("RemoteIPType", pa.string()),
            ("InitiatingProcessVersionInfoCompanyName", pa.string()),
        ]
    ),
}


def table(name: str, rows: list[dict], schema: pa.Schema | None = None) -> pa.Table:
    schema = schema or SCHEMAS[name]
    columns = {f.name: [row.get(f.name) for row in rows] for f in schema}
    return pa.table(columns, schema=schema)


def write_table(folder: Path, name: str, rows: list[dict], schema: pa.Schema | None = None) -> Path:
    """Write rows as folder/NAME.parquet and return the path."""
    folder.mkdir(parents=True, exist_ok=True)
    path = folder / f"{name}.parquet"
    pq.write_table(table(name, rows, schema), path)
    return path


def write_fleet(folder: Path, device_info: list[dict], network_events: list[dict]) -> Path:
    """Write both tables the rule reads into folder and return folder (ready for --data)."""
    write_table(folder, "DeviceInfo", device_info)
    write_table(folder, "DeviceNetworkEvents", network_events)
    return folder


SEED = "supply_chain_network_connections"
RULE_COMMANDS = ("run", "sql", "explain", "export", "rule")


def invoke(*args):
    """Run `detector ARGS` through CliRunner, naming the seed rule for the commands that take one when ARGS do not
    (several rules are installed)."""
    from typer.testing import CliRunner

    from detector.cli import app

    args = [str(a) for a in args]
    if args and args[0] in RULE_COMMANDS and (len(args) == 1 or args[1].startswith("-")) and "--all" not in args:
        args.insert(1, SEED)
    return CliRunner().invoke(app, args)
