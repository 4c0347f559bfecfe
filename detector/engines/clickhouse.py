"""The ClickHouse engine: the rule's ClickHouse SQL, run in process by chdb over the same Parquet DuckDB reads, with
the same records out.

The tables are views (in a database of their own, dropped on close) with the normalisation every engine gives
(detector/sources.py): datetimes as UTC instants (zoned, naive = UTC, dates at midnight UTC, ISO-8601 text),
integers as integers, strings as strings, every column nullable. Files are unioned by column name, as DuckDB's
union_by_name does: the files of one folder with the same schema are read together by one file() call, each group
is cast to the Kusto types on its own, and a column missing from some files is null there. The result is cast to
the canonical Arrow form of its types (detector/types.py), so output.py writes the same bytes as for DuckDB.

chdb is optional: `pip install 'kql-detector[clickhouse]'`. Only local files: chdb reads s3:// through its own s3()
function and credentials, which this engine does not set up. A ClickHouse server (clickhouse-connect) is not
supported either (see docs/export.md).
"""

from __future__ import annotations

import functools
import os
import uuid
from collections.abc import Callable
from datetime import UTC, datetime, timedelta

import pyarrow as pa

from detector import sources, types
from detector.errors import DetectorError, SourceError
from detector.literals import sql_identifier, sql_literal
from detector.rule import Rule

_GLOB = set("*?{},")
_DATETIME = "DateTime64(6, 'UTC')"


class EngineUnavailable(DetectorError):
    """chdb is not installed."""


def found_type(clickhouse_type: str) -> str:
    """A ClickHouse column type in the words detector/sources.py reads: nullability and low cardinality dropped,
    DateTime/DateTime64 -> `timestamp`, Date/Date32 -> `date`, String/FixedString -> `string`, others lower case."""
    t = clickhouse_type.strip()
    while t.startswith(("Nullable(", "LowCardinality(")):
        t = t[t.index("(") + 1 : -1]
    low = t.lower()
    if low.startswith("datetime"):
        return "timestamp"
    if low in ("date", "date32"):
        return "date"
    if low == "string" or low.startswith("fixedstring"):
        return "string"
    return low


def cast(col: str, kusto_type: str, found: str) -> str:
    """One column in its Kusto type (nullable), from the type ClickHouse reads it as (as found_type names it)."""
    if kusto_type == "datetime":
        if found in ("timestamp", "date"):  # Parquet instants, naive ones taken as UTC, dates at midnight UTC
            return f"CAST({col} AS Nullable({_DATETIME}))"
        # ISO-8601 text with Z, an offset or no zone (= UTC); digits past the microsecond are cut, as in DuckDB.
        return f"CAST(parseDateTime64BestEffort({col}, 6, 'UTC') AS Nullable({_DATETIME}))"
    return f"CAST({col} AS Nullable({types.sql_type(kusto_type, 'clickhouse')}))"


def _empty(kusto_type: str) -> str:
    """Kusto's value for a column no file has: "" for a string, a typed null otherwise (ClickHouse's form of
    detector.sources.empty_value: a null needs a Nullable type)."""
    return "''" if kusto_type == "string" else f"CAST(NULL AS Nullable({types.sql_type(kusto_type, 'clickhouse')}))"


class ClickHouseEngine:
    name = "clickhouse"
    dialect = "clickhouse"
    OPTIONS: tuple[str, ...] = ()

    def __init__(self) -> None:
        """chdb's in-process ClickHouse, the session in UTC; the views go in a database of this engine's own."""
        try:
            import chdb
        except ImportError:
            raise EngineUnavailable("--engine clickhouse needs chdb: pip install 'kql-detector[clickhouse]'") from None
        self.con = chdb.connect(":memory:")  # chdb keeps one database server per process: names must not clash
        self.database = f"detector_{uuid.uuid4().hex}"
        self.con.query("SET session_timezone = 'UTC'")
        self.con.query(f"CREATE DATABASE {self.database} ENGINE = Memory")  # views only: nothing to store
        self.rule: Rule | None = None
        self.scans: dict[str, list[tuple[str, dict[str, str]]]] = {}  # table -> (file() call, found types) per group

    # ---- tables ----
    def register(self, rule: Rule, tables: dict[str, sources.Table]) -> dict[str, str]:
        """One view per table, with the rule's columns in their Kusto types (see the module's docstring)."""
        self.rule = rule
        names = {}
        for name, table in tables.items():
            remote = [f for f in table.files if "://" in f]
            if remote:
                raise SourceError(
                    f"table {name}: --engine clickhouse reads local Parquet files, not {remote[0]} "
                    "(--engine duckdb reads s3://)"
                )
            groups = [(scan, self._describe(name, table, scan)) for scan in _scans(table)]
            everywhere = {c for _, found in groups for c in found}
            for column in rule.reads[name]:
                if sources.find_column(dict.fromkeys(everywhere, ""), column) is None:
                    raise SourceError(f"table {name}: column {column} is missing from {sources.which(table)}")
            nowhere = {c for c in rule.tables[name] if sources.find_column(dict.fromkeys(everywhere, ""), c) is None}
            selects = []
            for scan, found in groups:
                found = dict(found)
                for column in rule.tables[name]:
                    if sources.find_column(found, column) is None:
                        found[column] = "void"  # null here; Kusto's empty value when no file has it
                typed = functools.partial(_cast_group, {sql_identifier(c, "clickhouse") for c in nowhere})
                select = sources.typed_select(rule, name, found, sources.which(table), typed, "clickhouse")
                selects.append(f"SELECT {', '.join(select)} FROM {scan}")
            self.scans[name] = groups
            names[name] = f"{self.database}.{sql_identifier(name, 'clickhouse')}"
            self._query(f"CREATE VIEW {names[name]} AS {' UNION ALL '.join(selects)}")
        return names

    def _describe(self, name: str, table: sources.Table, scan: str) -> dict[str, str]:
        try:
            described = self.con.query(f"DESCRIBE {scan}", "ArrowTable").to_pylist()
        except Exception as exc:  # chdb raises its own RuntimeError subclass
            raise SourceError(f"table {name}: cannot read {sources.which(table)}: {_message(exc)}") from None
        return {row["name"]: found_type(row["type"]) for row in described}

    # ---- queries ----
    def clock(self, sql_name: str, column: str) -> datetime | None:
        # Microseconds since the epoch, so no Python-side time zone is involved; maxOrNull: max() of no rows is 0.
        col = sql_identifier(column, "clickhouse")
        [row] = self._query(f"SELECT toUnixTimestamp64Micro(maxOrNull({col})) AS us FROM {sql_name}").to_pylist()
        return None if row["us"] is None else datetime(1970, 1, 1, tzinfo=UTC) + timedelta(microseconds=row["us"])

    def columns(self, sql: str) -> list[str]:
        return [row["name"] for row in self._query(f"DESCRIBE ({sql})").to_pylist()]

    def execute(self, sql: str, progress: Callable[[float], None] | None = None) -> pa.Table:
        """The statement's rows as Arrow in the canonical types (chdb reports no progress here)."""
        try:
            table = self.con.query(sql, "ArrowTable")
        except Exception as exc:  # chdb raises its own RuntimeError subclass
            if "CANNOT_PARSE" in str(exc) or "CANNOT_CONVERT" in str(exc):
                detail = self.diagnose()
                if detail:
                    raise SourceError(detail) from None
                raise SourceError(f"cannot read the data: {_message(exc)}") from None
            raise SourceError(f"ClickHouse could not run the rule: {_message(exc)}") from None
        return types.canonical_table(self._declared(_plain(table)))

    def _declared(self, table: pa.Table) -> pa.Table:
        """The rule's output (nested or flat, told by its column names) with its scalar columns in their declared
        Kusto types: ClickHouse counts are UInt64 where Kusto (and DuckDB) give a long."""
        shapes = [s for s in (self.rule.output.nested, self.rule.output.flat) if s] if self.rule else []
        for shape in shapes:
            if table.column_names == list(shape.columns):
                fields = [
                    pa.field(f.name, types.get(kusto_type).arrow)
                    if kusto_type in types.TYPES and kusto_type not in ("dynamic", "timespan")
                    else f
                    for f, kusto_type in zip(table.schema, shape.columns.values(), strict=True)
                ]
                return table.cast(pa.schema(fields))
        return table

    def _query(self, sql: str) -> pa.Table:
        try:
            return self.con.query(sql, "ArrowTable")
        except Exception as exc:  # chdb raises its own RuntimeError subclass
            raise SourceError(f"ClickHouse could not run the rule: {_message(exc)}") from None

    def diagnose(self) -> str | None:
        """After a value did not convert: the table, file, column and rows whose text is not of the Kusto type."""
        assert self.rule is not None
        for name, groups in self.scans.items():
            for scan, found in groups:
                for column, kusto_type in self.rule.tables[name].items():
                    actual = sources.find_column(found, column)
                    if kusto_type in types.TEXT_TYPES or actual is None or found[actual] != "string":
                        continue
                    col = sql_identifier(actual, "clickhouse")
                    if kusto_type == "datetime":
                        converted = f"parseDateTime64BestEffortOrNull({col}, 6, 'UTC')"
                    else:
                        converted = (
                            f"accurateCastOrNull({col}, {sql_literal(types.sql_type(kusto_type, 'clickhouse'))})"
                        )
                    bad = self._query(
                        f"SELECT _path AS path, _row_number AS row, {col} AS value FROM {scan} "
                        f"WHERE {col} IS NOT NULL AND {converted} IS NULL ORDER BY path, row LIMIT 5"
                    ).to_pylist()
                    if bad:
                        where = "; ".join(f"{b['path']} row {b['row'] + 1}: {b['value']!r}" for b in bad)
                        return f"table {name}: column {column} is not {types.get(kusto_type).what} at {where}"
        return None

    def close(self) -> None:
        try:
            self.con.query(f"DROP DATABASE IF EXISTS {self.database}")
        finally:
            self.con.close()


def _cast_group(nowhere: set[str], col: str, kusto_type: str, found: str) -> str:
    if found == "void":
        return _empty(kusto_type) if col in nowhere else f"CAST(NULL AS Nullable({_clickhouse_type(kusto_type)}))"
    return cast(col, kusto_type, found)


def _clickhouse_type(kusto_type: str) -> str:
    return _DATETIME if kusto_type == "datetime" else types.sql_type(kusto_type, "clickhouse")


def _scans(table: sources.Table) -> list[str]:
    """file() calls covering the table's files: one per folder and Parquet schema (read from the footers), the
    folder's files named in a {a,b} pattern; a file whose path holds a glob character alone."""
    import pyarrow.parquet as pq

    groups: dict[tuple[pa.Schema, str], list[str]] = {}
    alone = []
    for path in table.files:
        try:
            schema = pq.read_schema(path).remove_metadata()
        except (OSError, pa.ArrowException) as exc:
            raise SourceError(f"table {table.name}: cannot read {path}: {str(exc).splitlines()[0]}") from None
        folder, file = os.path.split(path)
        if _GLOB & set(file):
            alone.append(path)
        else:
            groups.setdefault((schema, folder), []).append(file)
    patterns = [
        os.path.join(folder, files[0] if len(files) == 1 else "{" + ",".join(files) + "}")
        for (_, folder), files in groups.items()
    ]
    return [f"file({sql_literal(p, 'clickhouse')}, Parquet)" for p in patterns + alone]


def _plain(table: pa.Table) -> pa.Table:
    """chdb gives a Variant (a set that may be null) as a union: as its one non-null member type."""
    columns, changed = [], False
    for column in table.columns:
        wanted = _plain_type(column.type)
        if wanted != column.type:
            column = pa.chunked_array([pa.array(column.to_pylist(), type=wanted)], type=wanted)
            changed = True
        columns.append(column)
    return pa.Table.from_arrays(columns, names=table.column_names) if changed else table


def _plain_type(t: pa.DataType) -> pa.DataType:
    if pa.types.is_union(t):
        members = [t.field(i).type for i in range(t.num_fields) if not pa.types.is_null(t.field(i).type)]
        return _plain_type(members[0]) if len(members) == 1 else pa.string()
    if pa.types.is_list(t) or pa.types.is_large_list(t):
        return pa.list_(_plain_type(t.value_type))
    if pa.types.is_struct(t):
        return pa.struct([pa.field(f.name, _plain_type(f.type)) for f in t])
    return t


def _message(exc: BaseException) -> str:
    """chdb's message on one line, without its code prefix and the statement it repeats."""
    text = " ".join(str(exc).split())
    text = text.split("DB::Exception: ", 1)[-1]
    return text.split(": In scope ", 1)[0].split(". Stack trace", 1)[0]
