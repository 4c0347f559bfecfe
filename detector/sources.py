"""Find the tables a rule reads, check their columns, and expose each as a DuckDB view with Kusto's types.

A table is `DIR/NAME.parquet`, a folder `DIR/NAME/` of Parquet files at any depth (hive folders allowed),
or whatever `--table NAME=PATH_OR_GLOB` names. Files in one table may differ in columns (union by name);
extra columns are ignored. The view casts each needed column to its Kusto type: Timestamp to a UTC instant
(zoned, naive = UTC, or ISO-8601 text), integers from integer or numeric text, strings from anything.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import duckdb
import sqlglot
from sqlglot import exp

from detector.errors import SourceError
from detector.literals import sql_identifier, sql_literal
from detector.rule import Rule
from detector.storage import has_glob, register_filesystems, store_for


@dataclass(frozen=True)
class Table:
    name: str
    location: str  # what the user gave, for messages
    files: tuple[str, ...]


def resolve(rule: Rule, data: str | Path | None, overrides: dict[str, str] | None = None) -> dict[str, Table]:
    """Map each table the rule reads to its Parquet files, local or in a data lake (s3://...)."""
    overrides = dict(overrides or {})
    unknown = sorted(set(overrides) - set(rule.tables))
    if unknown:
        raise SourceError(f"--table {unknown[0]}: the rule reads no such table (it reads {', '.join(rule.tables)})")
    data = None if data is None else str(data)
    if data is not None and not store_for(data).is_dir(data):
        raise SourceError(f"--data {data}: no such folder")
    tables = {}
    for name in rule.tables:
        if name in overrides:
            tables[name] = _from_location(name, overrides[name])
        elif data is not None:
            tables[name] = _from_data_dir(name, data)
        else:
            raise SourceError(f"table {name}: give --data DIR or --table {name}=PATH")
    return tables


def _from_data_dir(name: str, data: str) -> Table:
    store = store_for(data)
    single, folder = store.join(data, f"{name}.parquet"), store.join(data, name)
    if store.is_file(single) and store.is_dir(folder):
        raise SourceError(f"table {name}: both {single} and {folder}/ exist; keep one")
    if store.is_file(single):
        return _from_location(name, single)
    if store.is_dir(folder):
        return _from_location(name, folder)
    raise SourceError(f"table {name}: neither {single} nor a folder {folder}/ exists")


def _from_location(name: str, location: str) -> Table:
    store = store_for(location)
    if store.is_dir(location):
        files = store.parquet_below(location)
        if not files:
            raise SourceError(f"table {name}: no .parquet files in {location}")
    elif store.is_file(location):
        files = [location]
    elif has_glob(location):
        files = store.glob(location)
        if not files:
            raise SourceError(f"table {name}: no files match {location}")
    else:
        raise SourceError(f"table {name}: {location} does not exist")
    for f in files:
        if store.size(f) == 0:
            raise SourceError(f"table {name}: {f} is an empty (zero-byte) file, not Parquet")
    return Table(name=name, location=location, files=tuple(files))


def scan_sql(table: Table) -> str:
    """read_parquet over the table's files; paths are quoted by sqlglot."""
    files = "[" + ", ".join(sql_literal(f) for f in table.files) + "]"
    return f"read_parquet({files}, union_by_name = true, hive_partitioning = true)"


def _describe(con: duckdb.DuckDBPyConnection, table: Table) -> dict[str, str]:
    try:
        rows = con.execute(f"DESCRIBE SELECT * FROM {scan_sql(table)}").fetchall()
    except duckdb.Error as exc:
        raise SourceError(f"table {table.name}: cannot read {_which(table)}: {_first_line(exc)}") from exc
    return {row[0]: row[1] for row in rows}


def _cast(column: str, kusto_type: str, found: str) -> str:
    col = sql_identifier(column)
    found = found.upper()
    if kusto_type == "string":
        return col if found == "VARCHAR" else f"CAST({col} AS VARCHAR)"
    if kusto_type == "int":
        return f"CAST({col} AS INTEGER)"
    # timestamp: zoned -> UTC; naive -> taken as UTC; text -> ISO-8601 parsed in the UTC session.
    if found.startswith("TIMESTAMP WITH TIME ZONE"):
        return col
    if found.startswith("TIMESTAMP") or found == "DATE":
        return f"timezone('UTC', CAST({col} AS TIMESTAMP))"
    return f"CAST({col} AS TIMESTAMPTZ)"


def register(con: duckdb.DuckDBPyConnection, rule: Rule, tables: dict[str, Table]) -> None:
    """Create one view per table, named as the table, with the rule's columns in their Kusto types."""
    register_filesystems(con, [f for t in tables.values() for f in t.files])
    for name, table in tables.items():
        _typed_view(con, rule, name, sql_identifier(name), scan_sql(table), _describe(con, table), _which(table))


def register_connection_tables(
    con: duckdb.DuckDBPyConnection, rule: Rule, names: dict[str, str] | None = None, prefix: str = "detector__"
) -> dict[str, str]:
    """Typed views over tables already in the connection (`names` maps a rule table to the user's table, default
    the same name). Returns rule table -> view name, for `render(source=...)`."""
    views = {}
    for name in rule.tables:
        where = (names or {}).get(name, name)
        try:
            source = exp.to_table(where).sql(dialect="duckdb", identify=True)
            found = {r[0]: r[1] for r in con.execute(f"DESCRIBE SELECT * FROM {source}").fetchall()}
        except (duckdb.Error, sqlglot.errors.ParseError) as exc:
            raise SourceError(f"table {name}: cannot read {where!r} in the connection: {_first_line(exc)}") from exc
        views[name] = sql_identifier(prefix + name)
        _typed_view(con, rule, name, views[name], source, found, f"connection table {where}")
    return views


def _typed_view(
    con: duckdb.DuckDBPyConnection, rule: Rule, name: str, view: str, source: str, found: dict[str, str], which: str
) -> None:
    select = []
    for column, kusto_type in rule.tables[name].items():
        actual = _column(found, column)
        if actual is None:
            raise SourceError(f"table {name}: column {column} is missing from {which}")
        if kusto_type == "timestamp" and not _timestamp_like(found[actual]):
            raise SourceError(
                f"table {name}: column {actual} in {which} has type {found[actual]}, "
                "expected a timestamp or ISO-8601 text"
            )
        select.append(f"{_cast(actual, kusto_type, found[actual])} AS {sql_identifier(column)}")
    con.execute(f"CREATE OR REPLACE TEMP VIEW {view} AS SELECT {', '.join(select)} FROM {source}")


def _column(found: dict[str, str], column: str) -> str | None:
    """The file's spelling of a column: exact, else the one that differs only in case (SQL names ignore case)."""
    if column in found:
        return column
    return next((c for c in found if c.lower() == column.lower()), None)


def _timestamp_like(duck_type: str) -> bool:
    t = duck_type.upper()
    return t.startswith("TIMESTAMP") or t in ("DATE", "VARCHAR")


def diagnose(con: duckdb.DuckDBPyConnection, rule: Rule, tables: dict[str, Table]) -> str | None:
    """After a conversion error: find the table, file, column and rows whose values do not convert."""
    for name, table in tables.items():
        found = _describe(con, table)
        for column, kusto_type in rule.tables[name].items():
            actual = _column(found, column)
            if kusto_type == "string" or actual is None or found[actual].upper() != "VARCHAR":
                continue
            target = "INTEGER" if kusto_type == "int" else "TIMESTAMPTZ"
            col = sql_identifier(actual)
            scan = scan_sql(table)[:-1] + ", filename = true, file_row_number = true)"
            bad = con.execute(
                f"SELECT filename, file_row_number, {col} FROM {scan} "
                f"WHERE {col} IS NOT NULL AND TRY_CAST({col} AS {target}) IS NULL "
                "ORDER BY filename, file_row_number LIMIT 5"
            ).fetchall()
            if bad:
                where = "; ".join(f"{f} row {r + 1}: {v!r}" for f, r, v in bad)
                expected = "an integer" if kusto_type == "int" else "an ISO-8601 timestamp"
                return f"table {name}: column {column} is not {expected} at {where}"
    return None


def _which(table: Table) -> str:
    if len(table.files) == 1:
        return table.files[0]
    return f"{table.location} ({len(table.files)} files)"


def _first_line(exc: Exception) -> str:
    return str(exc).strip().splitlines()[0]
