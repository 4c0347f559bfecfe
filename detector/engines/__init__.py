"""Engines behind one small interface: register the rule's tables, read the clock, execute SQL to Arrow.

Each engine is one module here, named in ENGINES; nothing else branches on the engine. `detector.api` is the
only caller: it resolves the sources, binds the parameters, renders the rule for `engine.dialect` and executes.
"""

from __future__ import annotations

import importlib
from collections.abc import Callable
from datetime import datetime
from typing import Any, Protocol

import pyarrow as pa

from detector.errors import ParamError
from detector.rule import Rule
from detector.sources import Table

# name -> (module, class, one line for --help)
ENGINES: dict[str, tuple[str, str, str]] = {
    "duckdb": ("detector.engines.duckdb", "DuckDBEngine", "in process (default)"),
    "spark": (
        "detector.engines.spark",
        "SparkEngine",
        "the rule's Spark SQL with PySpark (pip install 'kql-detector[spark]'; Java 17+); local unless "
        "--spark-master is given",
    ),
    "postgres": (
        "detector.engines.postgres",
        "PostgresEngine",
        "the rule's Postgres SQL on tables already in a PostgreSQL database (--connection, --table NAME=schema.table; "
        "needs pg8000, the postgres extra)",
    ),
    "clickhouse": (
        "detector.engines.clickhouse",
        "ClickHouseEngine",
        "the rule's ClickHouse SQL in process over the same Parquet (needs chdb, the clickhouse extra)",
    ),
}


class Engine(Protocol):
    name: str
    dialect: str  # detector.dialects name the rule is rendered in

    def register(self, rule: Rule, tables: dict[str, Table]) -> dict[str, str]:
        """Expose each table with the rule's columns in their Kusto types; returns table -> SQL name."""

    def clock(self, sql_name: str, column: str) -> datetime | None:
        """The newest value of a datetime column (for `--now latest`), as an aware UTC datetime."""

    def execute(self, sql: str, progress: Callable[[float], None] | None = None) -> pa.Table:
        """Run one statement; the result as Arrow in the canonical types (detector.types.canonical_table)."""

    def columns(self, sql: str) -> list[str]:
        """The column names a statement gives (explain: which stages carry the traced entity)."""

    def close(self) -> None: ...


def engine_names() -> tuple[str, ...]:
    return tuple(ENGINES)


def check_engine(name: str, **options: Any) -> Callable[[], Engine]:
    """Check engine `name` and its options (None values are left out) before any work; returns what starts it.
    An unknown engine or an option the engine does not take is a ParamError naming it."""
    engine_cls = engine_class(name)
    given = {k: v for k, v in options.items() if v is not None}
    for option in given:
        if option not in engine_cls.OPTIONS:
            raise ParamError("--" + option.replace("_", "-"), f"applies to --engine {_takers(option)} only")
    return lambda: engine_cls(**given)


def open_engine(name: str, **options: Any) -> Engine:
    """Start engine `name` with its options (see check_engine)."""
    return check_engine(name, **options)()


def engine_class(name: str) -> type:
    """The class of engine `name` (its module imported on first use)."""
    if name not in ENGINES:
        raise ParamError("--engine", f"{name!r} is not one of {', '.join(ENGINES)}")
    module, cls, _ = ENGINES[name]
    return getattr(importlib.import_module(module), cls)


def _takers(option: str) -> str:
    return " or ".join(n for n in ENGINES if option in engine_class(n).OPTIONS) or "(none)"
