"""The Python API: run a rule on a folder of Parquet (or on mapped tables) and get Arrow or records.

from detector import run_table, run_rule
table = run_table(data="data/sample", now="2026-11-20T12:00:00Z")      # pyarrow.Table
alerts = run_rule(data="data/sample", now="latest", params={"lookback": "7d"})  # list of dicts
"""

from __future__ import annotations

from collections.abc import Mapping
from datetime import datetime
from pathlib import Path
from typing import Any

import pyarrow as pa

from detector import engine
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
) -> pa.Table:
    """Run the rule and return its result as Arrow: nested (DeviceName, set_Details) or flat."""
    loaded = load_rule(rule)
    bindings = bind(loaded, params)
    con = engine.connect(threads=threads, memory_limit=memory_limit)
    try:
        bindings, found = engine.prepare(con, loaded, bindings, data=data, tables=dict(tables or {}), now=now)
        return engine.execute(con, loaded, bindings, found, flat=flat).table
    finally:
        con.close()


def run_rule(**kwargs: Any) -> list[dict]:
    """As run_table, as Python records: ints, None, lists, dicts, aware UTC datetimes."""
    return run_table(**kwargs).to_pylist()
