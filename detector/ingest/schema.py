"""The Parquet columns `detector ingest` writes, with Defender's names and types, and the value converters.

Every part file of a table has exactly this schema (columns an input lacks are null), so DuckDB reads the parts
of a table as one. Input columns that are not listed here are not written.
"""

from __future__ import annotations

import json
import re
from collections.abc import Callable
from typing import Any

import pyarrow as pa

from detector.ingest.timeparse import parse_utc

TS = pa.timestamp("us", tz="UTC")
TABLES = ("DeviceNetworkEvents", "DeviceInfo")

_TYPES = {"string": pa.string(), "int32": pa.int32(), "int64": pa.int64(), "timestamp": TS}

COLUMNS: dict[str, dict[str, str]] = {
    "DeviceNetworkEvents": {
        "Timestamp": "timestamp",
        "DeviceId": "string",
        "DeviceName": "string",
        "ActionType": "string",
        "RemoteIP": "string",
        "RemotePort": "int32",
        "RemoteUrl": "string",
        "RemoteIPType": "string",
        "LocalIP": "string",
        "LocalPort": "int32",
        "LocalIPType": "string",
        "Protocol": "string",
        "InitiatingProcessFileName": "string",
        "InitiatingProcessFolderPath": "string",
        "InitiatingProcessId": "int64",
        "InitiatingProcessCommandLine": "string",
        "InitiatingProcessAccountDomain": "string",
        "InitiatingProcessAccountName": "string",
        "InitiatingProcessSHA1": "string",
        "InitiatingProcessSHA256": "string",
        "InitiatingProcessVersionInfoCompanyName": "string",
        "InitiatingProcessVersionInfoProductName": "string",
        "ReportId": "int64",
        "AdditionalFields": "string",
    },
    "DeviceInfo": {
        "Timestamp": "timestamp",
        "DeviceId": "string",
        "DeviceName": "string",
        "DeviceType": "string",
        "OSPlatform": "string",
        "OSVersion": "string",
        "OSBuild": "int64",
        "OSArchitecture": "string",
        "PublicIP": "string",
        "MachineGroup": "string",
        "OnboardingStatus": "string",
        "ReportId": "int64",
        "AdditionalFields": "string",
    },
}

SCHEMAS: dict[str, pa.Schema] = {
    table: pa.schema([(name, _TYPES[kind]) for name, kind in columns.items()]) for table, columns in COLUMNS.items()
}

_LOWER = {table: {name.lower(): name for name in columns} for table, columns in COLUMNS.items()}
_INT_TEXT = re.compile(r"[+-]?\d+(?:\.0*)?")
_RANGES = {"int32": (-(2**31), 2**31 - 1), "int64": (-(2**63), 2**63 - 1)}


def table_name(text: str) -> str | None:
    """The canonical table name for `text` (case-insensitive), or None."""
    return next((t for t in TABLES if t.lower() == text.strip().lower()), None)


_NAME_CACHE: dict[str, dict[str, str | None]] = {table: {} for table in TABLES}


def column_name(table: str, text: str) -> str | None:
    """The output column `text` names in `table` (case-insensitive), or None."""
    cache = _NAME_CACHE[table]
    if text in cache:
        return cache[text]
    name = _LOWER[table].get(text.strip().lower())
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


def convert(kind: str, value: object) -> object:
    """Convert one raw value to a column kind; raises ValueError."""
    if kind == "string":
        return to_string(value)
    if kind == "timestamp":
        if value is None or (isinstance(value, str) and not value.strip()):
            return None
        return parse_utc(value)
    return to_int(value, kind)


def _converter(kind: str) -> Callable[[Any], Any]:
    if kind == "string":
        return to_string
    if kind == "timestamp":
        return lambda value: convert("timestamp", value)
    return lambda value: to_int(value, kind)


CONVERTERS: dict[str, dict[str, Callable[[Any], Any]]] = {
    table: {name: _converter(kind) for name, kind in columns.items()} for table, columns in COLUMNS.items()
}


def empty_columns(table: str) -> dict[str, list]:
    return {name: [] for name in COLUMNS[table]}


def arrow_table(table: str, columns: dict[str, list]) -> pa.Table:
    return pa.table(columns, schema=SCHEMAS[table])
