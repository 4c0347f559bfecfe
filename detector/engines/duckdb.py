"""The DuckDB engine: in process, over Parquet (local or s3://) or over tables already in a DuckDB connection."""

from __future__ import annotations

import os
import tempfile
import threading
from collections.abc import Callable
from datetime import UTC, datetime

import duckdb
import pyarrow as pa
import sqlglot
from sqlglot import exp

from detector import sources, types
from detector.errors import ParamError, SourceError, first_line
from detector.literals import sql_identifier, sql_literal
from detector.rule import Rule
from detector.storage import register_filesystems


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


def cast(col: str, kusto_type: str, found: str) -> str:
    """One column in its Kusto type, from the type DuckDB reads it as."""
    found = found.upper()
    if kusto_type == "datetime":
        # zoned -> UTC; naive -> taken as UTC; text -> ISO-8601 parsed in the UTC session.
        if found.startswith("TIMESTAMP WITH TIME ZONE"):
            return col
        if found.startswith("TIMESTAMP") or found == "DATE":
            return f"timezone('UTC', CAST({col} AS TIMESTAMP))"
        return f"CAST({col} AS TIMESTAMPTZ)"
    target = types.get(kusto_type).duckdb
    return col if found == target else f"CAST({col} AS {target})"


def scan_sql(table: sources.Table) -> str:
    """read_parquet over the table's files; paths are quoted by sqlglot."""
    files = "[" + ", ".join(sql_literal(f) for f in table.files) + "]"
    return f"read_parquet({files}, union_by_name = true, hive_partitioning = true)"


class DuckDBEngine:
    name = "duckdb"
    dialect = "duckdb"
    OPTIONS = ("threads", "memory_limit", "spill_dir", "connection")

    def __init__(self, *, connection: duckdb.DuckDBPyConnection | None = None, **settings) -> None:
        """A fresh in-memory database, or `connection` (the caller's; its session zone is set to UTC, typed views
        named detector__<Table> are created in it, and it is left open)."""
        self.owned = connection is None
        self.con = connect(**settings) if connection is None else connection
        if connection is not None:
            connection.execute("SET TimeZone = 'UTC'")
        self.rule: Rule | None = None
        self.tables: dict[str, sources.Table] = {}
        self.found: dict[str, dict[str, str]] = {}  # table -> the data's columns and types (all files, by name)

    # ---- tables ----
    def register(self, rule: Rule, tables: dict[str, sources.Table]) -> dict[str, str]:
        """One view per table, named as the table, with the rule's columns in their Kusto types."""
        self.rule, self.tables = rule, dict(tables)
        register_filesystems(self.con, [f for t in tables.values() for f in t.files])
        names = {}
        for name, table in tables.items():
            names[name] = sql_identifier(name)
            found = self._describe(f"SELECT * FROM {scan_sql(table)}", name, sources.which(table))
            self.found[name] = found
            self._view(rule, name, names[name], scan_sql(table), found, sources.which(table))
        return names

    def register_files(self, name: str, files: list[str], view: str) -> str:
        """A typed view of table `name` over some of its files (a stateful run's per-file summaries), with exactly
        the values the whole table's view gives those files' rows: each column is first cast to the type the
        table's files have together (what union_by_name gives), absent columns as nulls of that type."""
        assert self.rule is not None, "register() comes first"
        register_filesystems(self.con, files)
        part = sources.Table(name=name, location=self.tables[name].location, files=tuple(files))
        scan, which = scan_sql(part), sources.which(part)
        here = self._describe(f"SELECT * FROM {scan}", name, which)
        union = self.found[name]
        columns = ", ".join(
            f"CAST({sql_identifier(c) if c in here else 'NULL'} AS {t}) AS {sql_identifier(c)}"
            for c, t in union.items()
        )
        self._view(self.rule, name, sql_identifier(view), f"(SELECT {columns} FROM {scan})", union, which)
        return sql_identifier(view)

    def copy_to_parquet(self, sql: str, path: str) -> int:
        """Write a query's rows to a local Parquet file; the number of rows."""
        return self.con.execute(f"COPY ({sql}) TO {sql_literal(path)} (FORMAT parquet)").fetchone()[0]

    def register_connection_tables(self, rule: Rule, mapping: dict[str, str]) -> dict[str, str]:
        """Typed views over tables already in the connection (`mapping`: rule table -> the user's table, default
        the same name). Returns rule table -> view name."""
        self.rule = rule
        sources.check_mapping(rule, mapping)
        views = {}
        for name in rule.tables:
            where = mapping.get(name, name)
            try:
                source = exp.to_table(where).sql(dialect="duckdb", identify=True)
            except sqlglot.errors.ParseError as exc:
                raise SourceError(f"table {name}: cannot read {where!r} in the connection: {exc}") from exc
            found = self._describe(f"SELECT * FROM {source}", name, f"{where!r} in the connection")
            views[name] = sql_identifier("detector__" + name)
            self._view(rule, name, views[name], source, found, f"connection table {where}")
        return views

    def _describe(self, sql: str, name: str, which: str) -> dict[str, str]:
        try:
            return {row[0]: row[1] for row in self.con.execute(f"DESCRIBE {sql}").fetchall()}
        except duckdb.Error as exc:
            raise SourceError(f"table {name}: cannot read {which}: {first_line(exc)}") from exc

    def _view(self, rule: Rule, name: str, view: str, source: str, found: dict[str, str], which: str) -> None:
        select = sources.typed_select(rule, name, found, which, cast, "duckdb")
        self.con.execute(f"CREATE OR REPLACE TEMP VIEW {view} AS SELECT {', '.join(select)} FROM {source}")

    # ---- queries ----
    def clock(self, sql_name: str, column: str) -> datetime | None:
        newest = self.con.execute(f"SELECT max({sql_identifier(column)}) FROM {sql_name}").fetchall()[0][0]
        return None if newest is None else newest.astimezone(UTC)

    def columns(self, sql: str) -> list[str]:
        return [row[0] for row in self.con.execute(f"DESCRIBE {sql}").fetchall()]

    def execute(self, sql: str, progress: Callable[[float], None] | None = None) -> pa.Table:
        try:
            return types.canonical_table(self._run(sql, progress))
        except (duckdb.ConversionException, duckdb.InvalidInputException) as exc:
            detail = self.diagnose() if self.tables else None
            raise SourceError(detail or f"cannot read the data: {first_line(exc)}") from exc
        except duckdb.IOException as exc:
            raise SourceError(f"cannot read the data: {first_line(exc)}") from exc

    def _run(self, sql: str, progress: Callable[[float], None] | None) -> pa.Table:
        """With `progress`, the query runs in a worker thread while this one reports DuckDB's percentage done.
        Ctrl-C interrupts the query, so nothing is left running."""
        if progress is None:
            return self.con.sql(sql).to_arrow_table()
        outcome: dict = {}

        def work() -> None:
            try:
                outcome["table"] = self.con.sql(sql).to_arrow_table()
            except BaseException as exc:  # handed to the calling thread
                outcome["error"] = exc

        worker = threading.Thread(target=work, daemon=True)
        worker.start()
        try:
            while worker.is_alive():
                worker.join(0.25)
                done = self.con.query_progress()
                if worker.is_alive() and done >= 0:
                    progress(done)
        except KeyboardInterrupt:
            self.con.interrupt()
            worker.join()
            raise
        if "error" in outcome:
            raise outcome["error"]
        return outcome["table"]

    def diagnose(self) -> str | None:
        """After a conversion error: find the table, file, column and rows whose values do not convert."""
        assert self.rule is not None
        for name, table in self.tables.items():
            found = self._describe(f"SELECT * FROM {scan_sql(table)}", name, sources.which(table))
            for column, kusto_type in self.rule.tables[name].items():
                actual = sources.find_column(found, column)
                if kusto_type == "string" or actual is None or found[actual].upper() != "VARCHAR":
                    continue
                target = "TIMESTAMPTZ" if kusto_type == "datetime" else types.get(kusto_type).duckdb
                col = sql_identifier(actual)
                scan = scan_sql(table)[:-1] + ", filename = true, file_row_number = true)"
                bad = self.con.execute(
                    f"SELECT filename, file_row_number, {col} FROM {scan} "
                    f"WHERE {col} IS NOT NULL AND TRY_CAST({col} AS {target}) IS NULL "
                    "ORDER BY filename, file_row_number LIMIT 5"
                ).fetchall()
                if bad:
                    where = "; ".join(f"{f} row {r + 1}: {v!r}" for f, r, v in bad)
                    return f"table {name}: column {column} is not {types.get(kusto_type).what} at {where}"
        return None

    def close(self) -> None:
        if self.owned:
            self.con.close()
