"""Find the tables a rule reads and build, for any engine, the typed view each engine exposes.

A table is `DIR/NAME.parquet`, a folder `DIR/NAME/` of Parquet files at any depth (hive folders allowed),
a Delta table (a folder holding `_delta_log/`, or `delta:PATH[@VERSION]`), an Iceberg table
(`iceberg:CATALOG_URI#namespace.table`), or whatever `--table NAME=PATH_OR_GLOB` names. Delta and Iceberg
tables become the Parquet files of one snapshot (detector/lake.py), so the engines read every kind alike.
Files in one table may differ in columns (union by name); extra columns are ignored. The view casts each
column to its Kusto type (detector/types.py): datetimes to a UTC instant (zoned, naive = UTC, or ISO-8601
text), integers from integer or numeric text, strings from anything.
A column the rule reads must be in the data; a documented column the rule only passes through (whole-row output)
reads as Kusto's empty value when absent: "" for a string, null otherwise.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, replace
from datetime import datetime
from pathlib import Path

from detector import lake, types
from detector.errors import SourceError
from detector.literals import sql_identifier
from detector.rule import Rule
from detector.storage import has_glob, store_for


@dataclass(frozen=True)
class Table:
    name: str
    location: str  # what the user gave, for messages
    files: tuple[str, ...]
    newest: tuple[datetime | None, ...] = ()  # per file, its newest time by lake statistics (None: unknown)


def resolve(rule: Rule, data: str | Path | None, overrides: dict[str, str] | None = None) -> dict[str, Table]:
    """Map each table the rule reads to its Parquet files, local or in a data lake (s3://...)."""
    overrides = dict(overrides or {})
    check_mapping(rule, overrides, "--table")
    data = None if data is None else str(data)
    if data is not None and not store_for(data).is_dir(data):
        raise SourceError(f"--data {data}: no such folder")
    tables = {}
    for name in rule.tables:
        if name in overrides:
            tables[name] = _from_location(name, overrides[name], rule)
        elif data is not None:
            tables[name] = _from_data_dir(name, data, rule)
        else:
            raise SourceError(f"table {name}: give --data DIR or --table {name}=PATH")
    return tables


def check_mapping(rule: Rule, mapping: dict[str, str], label: str = "table") -> None:
    """Every table a mapping names must be one the rule reads."""
    unknown = sorted(set(mapping) - set(rule.tables))
    if unknown:
        raise SourceError(f"{label} {unknown[0]}: the rule reads no such table (it reads {', '.join(rule.tables)})")


def _from_data_dir(name: str, data: str, rule: Rule) -> Table:
    store = store_for(data)
    single, folder = store.join(data, f"{name}.parquet"), store.join(data, name)
    if store.is_file(single) and store.is_dir(folder):
        raise SourceError(f"table {name}: both {single} and {folder}/ exist; keep one")
    if store.is_file(single):
        return _from_location(name, single, rule)
    if store.is_dir(folder):
        return _from_location(name, folder, rule)
    raise SourceError(f"table {name}: neither {single} nor a folder {folder}/ exists")


def _is_delta_folder(location: str) -> bool:
    """A folder holding _delta_log/ is a Delta table: its Parquet files include ones the log has removed."""
    store = store_for(location)
    return not has_glob(location) and store.is_dir(store.join(location, "_delta_log"))


def prune(rule: Rule, tables: dict[str, Table], now: datetime, values: dict) -> dict[str, Table]:
    """Drop the lake files whose statistics show every row is too old for the rule to read: rule.toml `since`
    says the rule's result depends only on rows whose time column (`time`) is after now - the longest of those
    durations."""
    pruned = dict(tables)
    for name, table in tables.items():
        spans = [values.get(p) for p in rule.since.get(name, ())]
        if not table.newest or not spans or any(s is None for s in spans):
            continue
        kept = set(lake.prune(list(table.files), list(table.newest), now - max(spans)))
        keep = [i for i, f in enumerate(table.files) if f in kept]
        files = tuple(table.files[i] for i in keep)
        pruned[name] = replace(table, files=files, newest=tuple(table.newest[i] for i in keep))
    return pruned


def _from_location(name: str, location: str, rule: Rule) -> Table:
    if lake.is_lake(location) or _is_delta_folder(location):
        spec = location if lake.is_lake(location) else f"delta:{location}"
        files, newest = lake.resolve(name, spec, rule.tables[name], rule.time.get(name))
        return Table(name=name, location=location, files=tuple(files), newest=tuple(newest))
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


def typed_select(
    rule: Rule, name: str, found: dict[str, str], which: str, cast: Callable[[str, str, str], str], dialect: str
) -> list[str]:
    """The select list of table `name`'s view: every column of rule.tables[name] in its Kusto type.

    found:  the data's columns and their engine type names (lower case).
    cast:   the engine's cast (column as SQL, Kusto type, found type) -> SQL.
    """
    select = []
    for column, kusto_type in rule.tables[name].items():
        target = sql_identifier(column, dialect)
        actual = find_column(found, column)
        if actual is None:
            if column in rule.reads[name]:
                raise SourceError(f"table {name}: column {column} is missing from {which}")
            select.append(f"{empty_value(kusto_type, dialect)} AS {target}")
            continue
        if kusto_type == "datetime" and not timestamp_like(found[actual]):
            raise SourceError(
                f"table {name}: column {actual} in {which} has type {found[actual]}, "
                "expected a timestamp or ISO-8601 text"
            )
        select.append(f"{cast(sql_identifier(actual, dialect), kusto_type, found[actual])} AS {target}")
    return select


def empty_value(kusto_type: str, dialect: str) -> str:
    """Kusto's value for a column the data lacks: "" for a string, a typed null otherwise."""
    if kusto_type == "string":
        return "''"
    return f"CAST(NULL AS {types.sql_type(kusto_type, dialect)})"


def find_column(found: dict[str, str], column: str) -> str | None:
    """The data's spelling of a column: exact, else the one that differs only in case (SQL names ignore case)."""
    if column in found:
        return column
    return next((c for c in found if c.lower() == column.lower()), None)


def timestamp_like(engine_type: str) -> bool:
    t = engine_type.lower()
    return t.startswith("timestamp") or t in ("date", "varchar", "string", "void")  # void: Spark's all-null


def which(table: Table) -> str:
    """A table's files, for messages."""
    if len(table.files) == 1:
        return table.files[0]
    return f"{table.location} ({len(table.files)} files)"
