"""The Python API: run a rule on a folder of Parquet, on mapped files, or on tables already in a DuckDB
connection, and get Arrow or records.

    from detector import run_table, run_rule
    table = run_table(data="data/sample", now="2026-11-20T12:00:00Z")                # pyarrow.Table
    alerts = run_rule(data="data/sample", now="latest", params={"lookback": "7d"})   # list of dicts
    table = run_table(connection=con, tables={"DeviceNetworkEvents": "lake.net_events"}, now="latest")
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import replace
from datetime import datetime
from pathlib import Path
from typing import Any

import duckdb
import pyarrow as pa

from detector import engine, sources
from detector.params import bind
from detector.rule import load_rule


def run_table(
    *,
    data: str | Path | None = None,
    tables: Mapping[str, str] | None = None,
    now: str | datetime | None = None,
    params: Mapping[str, Any] | None = None,
    flat: bool = False,
    rule: str | None = None,
    threads: int | None = None,
    memory_limit: str | None = None,
    connection: duckdb.DuckDBPyConnection | None = None,
    plan: str = "fast",
) -> pa.Table:
    """Run the rule and return its result as Arrow: nested (DeviceName, set_Details) or flat.

    data / tables: a folder, or table name -> Parquet file, folder or glob (local or s3://).
    connection: run on tables already in this DuckDB connection instead; `tables` then maps a rule table to a
    table or view name there (default: the same name). Its session time zone is set to UTC (Kusto's), and typed
    views named detector__<Table> are created in it.
    plan: `fast` (default) or `straight` (the KQL as written; the same rows, slower).
    """
    loaded = load_rule(rule)
    bindings = bind(loaded, params)
    if connection is not None:
        if data is not None:
            raise ValueError("give either data= or connection=, not both")
        connection.execute("SET TimeZone = 'UTC'")
        views = sources.register_connection_tables(connection, loaded, dict(tables or {}))
        bindings = replace(bindings, now=engine.resolve_now(connection, now, views["DeviceNetworkEvents"]))
        return engine.execute(connection, loaded, bindings, None, flat=flat, source=views.__getitem__, plan=plan).table
    con = engine.connect(threads=threads, memory_limit=memory_limit)
    try:
        bindings, found = engine.prepare(con, loaded, bindings, data=data, tables=dict(tables or {}), now=now)
        return engine.execute(con, loaded, bindings, found, flat=flat, plan=plan).table
    finally:
        con.close()


def run_rule(**kwargs: Any) -> list[dict]:
    """As run_table, as Python records: ints, None, lists, dicts, aware UTC datetimes."""
    return run_table(**kwargs).to_pylist()
