"""The Parquet columns `detector ingest` writes and the value converters. The columns and their Kusto types are
the tables' documented schemas (`sql/_tables/<Table>.toml`, read by `detector.tables`); the Arrow types come from
`detector.types`.

`TABLES` are the tables ingest writes. `KNOWN` adds the tables whose schema ingest knows without writing them
(DeviceProcessEvents: recognised, by a Type/Table value or its columns, and skipped with a reason); writing one
of them is adding it to `TABLES`.

Every part file of a table has exactly this schema: every documented column, those an input lacks null. So DuckDB
reads the parts of a table as one. Input columns that are not documented columns of the table are not written.
"""

from __future__ import annotations

import json
import math
import re
from collections.abc import Callable
from datetime import datetime
from typing import Any

import pyarrow as pa

from detector import types
from detector.ingest.timeparse import parse_utc
from detector.tables import load_table

TABLES = ("DeviceNetworkEvents", "DeviceInfo", "DeviceFileEvents")
KNOWN = (*TABLES, "DeviceProcessEvents")

# column -> Kusto type, in Microsoft's order
COLUMNS: dict[str, dict[str, str]] = {table: load_table(table).columns for table in KNOWN}

SCHEMAS: dict[str, pa.Schema] = {table: types.arrow_schema(columns) for table, columns in COLUMNS.items()}

_LOWER = {table: {name.lower(): name for name in reversed(columns)} for table, columns in COLUMNS.items()}
_INT_TEXT = re.compile(r"[+-]?\d+(?:\.0*)?")
_RANGES = {"int32": (-(2**31), 2**31 - 1), "int64": (-(2**63), 2**63 - 1)}
_REAL_TEXT = re.compile(r"[+-]?(?:\d+\.?\d*|\.\d+)(?:[eE][+-]?\d+)?")
_BOOL_TEXT = {"true": True, "false": False, "1": True, "0": False}


def table_name(text: str, tables: tuple[str, ...] = TABLES) -> str | None:
    """The canonical name in `tables` (default: those ingest writes) for `text` (case-insensitive), or None."""
    return next((t for t in tables if t.lower() == text.strip().lower()), None)


_NAME_CACHE: dict[str, dict[str, str | None]] = {table: {} for table in KNOWN}


def column_name(table: str, text: str) -> str | None:
    """The output column `text` names in `table` (case-insensitive; an exact match first, for documented names
    that differ only in case), or None."""
    cache = _NAME_CACHE[table]
    if text in cache:
        return cache[text]
    key = text.strip()
    name = key if key in COLUMNS[table] else _LOWER[table].get(key.lower())
    if len(cache) < 10_000:
        cache[text] = name
    return name


def to_string(value: object) -> str | None:
    """Strings as given (null stays null); JSON objects/arrays as compact JSON; numbers and booleans as text."""
    if value is None or isinstance(value, str):
        return value
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, dict | list):
        return json.dumps(value, separators=(",", ":"), ensure_ascii=False)
    return str(value)


def to_int(value: object, kind: str = "int64") -> int | None:
    """An exact integer in range for `kind`; null or "" is null. Floats must be whole and below 2**53 (larger
    floats have already lost digits). Raises ValueError."""
    if value is None:
        return None
    if isinstance(value, bool):
        raise ValueError(f"{value!r} is not an integer")
    if isinstance(value, float):
        if not value.is_integer() or abs(value) >= 2**53:
            raise ValueError(f"{value!r} is not an exact integer")
        number = int(value)
    elif isinstance(value, int):
        number = value
    else:
        text = str(value).strip()
        if text == "":
            return None
        if not _INT_TEXT.fullmatch(text):
            raise ValueError(f"{value!r} is not an integer")
        number = int(text.split(".")[0])
    low, high = _RANGES[kind]
    if not low <= number <= high:
        raise ValueError(f"{value!r} is out of range for {kind}")
    return number


def to_bool(value: object) -> bool | None:
    """true/false/1/0 (any case, as text, numbers or booleans); null or "" is null. Raises ValueError."""
    if value is None or isinstance(value, bool):
        return value
    if isinstance(value, int | float) and value in (0, 1):
        return bool(value)
    text = str(value).strip().lower()
    if text == "":
        return None
    if text not in _BOOL_TEXT:
        raise ValueError(f"{value!r} is not true or false")
    return _BOOL_TEXT[text]


def to_real(value: object) -> float | None:
    """A finite number; null or "" is null. Raises ValueError."""
    if value is None:
        return None
    if isinstance(value, bool):
        raise ValueError(f"{value!r} is not a number")
    if isinstance(value, int | float):
        number = float(value)
    else:
        text = str(value).strip()
        if text == "":
            return None
        if not _REAL_TEXT.fullmatch(text):
            raise ValueError(f"{value!r} is not a number")
        number = float(text)
    if not math.isfinite(number):
        raise ValueError(f"{value!r} is not a finite number")
    return number


def to_datetime(value: object) -> datetime | None:
    """An aware UTC datetime (see timeparse); null or blank text is null. Raises ValueError."""
    if value is None or (isinstance(value, str) and not value.strip()):
        return None
    return parse_utc(value)


_CONVERTERS_BY_TYPE: dict[str, Callable[[Any], Any]] = {
    "string": to_string,
    "guid": to_string,
    "dynamic": to_string,  # JSON objects/arrays as compact JSON text
    "int": lambda value: to_int(value, "int32"),
    "long": lambda value: to_int(value, "int64"),
    "real": to_real,
    "bool": to_bool,
    "datetime": to_datetime,
}


def convert(kusto_type: str, value: object) -> object:
    """Convert one raw value to a column of `kusto_type`; raises ValueError (KeyError for a type ingest cannot
    write, e.g. timespan)."""
    return _CONVERTERS_BY_TYPE[kusto_type](value)


CONVERTERS: dict[str, dict[str, Callable[[Any], Any]]] = {
    table: {name: _CONVERTERS_BY_TYPE[kusto_type] for name, kusto_type in columns.items()}
    for table, columns in COLUMNS.items()
}


def empty_columns(table: str) -> dict[str, list]:
    return {name: [] for name in COLUMNS[table]}


def arrow_table(table: str, columns: dict[str, list]) -> pa.Table:
    return pa.table(columns, schema=SCHEMAS[table])
