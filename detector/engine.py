"""Run a rendered rule on DuckDB and return Arrow."""

from __future__ import annotations

import os
import tempfile
import threading
from collections.abc import Callable
from dataclasses import dataclass, replace
from datetime import UTC, datetime
from pathlib import Path

import duckdb
import pyarrow as pa

from detector import sources
from detector.errors import ParamError, SourceError
from detector.literals import sql_literal
from detector.params import Bindings, parse_instant
from detector.render import Rendered, render
from detector.rule import Rule


@dataclass(frozen=True)
class Result:
    table: pa.Table
    rendered: Rendered
    bindings: Bindings


def default_spill_dir() -> str:
    """Where DuckDB spills when a run is larger than memory: the system temp folder, not the current folder."""
    return os.path.join(tempfile.gettempdir(), f"detector-spill-{os.getpid()}")


def connect(
    threads: int | None = None, memory_limit: str | None = None, spill_dir: str | None = None
) -> duckdb.DuckDBPyConnection:
    con = duckdb.connect(":memory:")
    # Kusto datetimes are UTC; no local zone may leak into casts or output (semantics 5).
    con.execute("SET TimeZone = 'UTC'")
    # DuckDB's own progress bar writes to stdout, where the alerts go: keep its counter, draw our own on stderr.
    con.execute("SET enable_progress_bar = true")
    con.execute("SET enable_progress_bar_print = false")
    con.execute(f"SET temp_directory = {sql_literal(spill_dir or default_spill_dir())}")
    try:
        if threads is not None:
            if threads < 1:
                raise ParamError("threads", f"{threads} must be at least 1")
            con.execute(f"SET threads = {int(threads)}")
        if memory_limit is not None:
            con.execute(f"SET memory_limit = {sql_literal(memory_limit)}")
    except duckdb.Error as exc:
        con.close()
        raise ParamError("memory_limit", f"{memory_limit!r}: {str(exc).splitlines()[0]}") from None
    return con


def resolve_now(
    con: duckdb.DuckDBPyConnection, now: str | datetime | None, events: str = '"DeviceNetworkEvents"'
) -> datetime:
    """`now` for the run: an instant, 'now' / None = the current UTC time, 'latest' = newest network event."""
    if now is None or (isinstance(now, str) and now.strip().lower() == "now"):
        return datetime.now(UTC)
    if isinstance(now, str) and now.strip().lower() == "latest":
        newest = con.execute(f'SELECT max("Timestamp") FROM {events}').fetchall()[0][0]
        if newest is None:
            raise SourceError("--now latest: DeviceNetworkEvents has no timestamped rows")
        return newest.astimezone(UTC)
    return parse_instant("now", now)


def prepare(
    con: duckdb.DuckDBPyConnection,
    rule: Rule,
    bindings: Bindings,
    *,
    data: str | Path | None = None,
    tables: dict[str, str] | None = None,
    now: str | datetime | None = None,
) -> tuple[Bindings, dict[str, sources.Table]]:
    """Register the tables as views and pin `now`."""
    found = sources.resolve(rule, data, tables)
    sources.register(con, rule, found)
    return replace(bindings, now=resolve_now(con, now)), found


def _run(con: duckdb.DuckDBPyConnection, sql: str, progress: Callable[[float], None] | None) -> pa.Table:
    """Run the query; with `progress`, in a worker thread while this one reports DuckDB's percentage done.
    Ctrl-C interrupts the query, so nothing is left running."""
    if progress is None:
        return con.sql(sql).to_arrow_table()
    outcome: dict = {}

    def work() -> None:
        try:
            outcome["table"] = con.sql(sql).to_arrow_table()
        except BaseException as exc:  # handed to the calling thread
            outcome["error"] = exc

    worker = threading.Thread(target=work, daemon=True)
    worker.start()
    try:
        while worker.is_alive():
            worker.join(0.25)
            done = con.query_progress()
            if worker.is_alive() and done >= 0:
                progress(done)
    except KeyboardInterrupt:
        con.interrupt()
        worker.join()
        raise
    if "error" in outcome:
        raise outcome["error"]
    return outcome["table"]


def execute(
    con: duckdb.DuckDBPyConnection,
    rule: Rule,
    bindings: Bindings,
    found: dict[str, sources.Table] | None = None,
    progress: Callable[[float], None] | None = None,
    **render_args,
) -> Result:
    rendered = render(rule, bindings, **render_args)
    try:
        table = _run(con, rendered.sql, progress)
    except (duckdb.ConversionException, duckdb.InvalidInputException) as exc:
        detail = sources.diagnose(con, rule, found) if found else None
        raise SourceError(detail or f"cannot read the data: {str(exc).splitlines()[0]}") from exc
    except duckdb.IOException as exc:
        raise SourceError(f"cannot read the data: {str(exc).splitlines()[0]}") from exc
    return Result(table=table, rendered=rendered, bindings=bindings)
