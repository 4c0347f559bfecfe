"""The one orchestrator: load a rule, bind its parameters, resolve its sources and `now`, render and execute on an
engine. The CLI and the Python API both come through here.

    from detector import run_table, run_rule
    table = run_table("<rule slug>", data="data/sample", now="2026-11-20T12:00:00Z")       # pyarrow.Table
    alerts = run_rule("<rule slug>", data="data/sample", now="latest", params={"<name>": "7d"})  # list of dicts
    table = run_table("<rule slug>", connection=con, tables={"<Table>": "lake.net_events"}, now="latest")
    table = run_table("<rule slug>", engine="postgres", connection="postgresql://user@host/db",
                      tables={"<Table>": "defender.net_events"}, now="latest")
"""

from __future__ import annotations

from collections.abc import Callable, Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass, replace
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pyarrow as pa

from detector import sources
from detector.engines import ENGINES, Engine, check_engine, engine_class
from detector.errors import ParamError, SourceError
from detector.params import Bindings, bind, parse_instant
from detector.render import Rendered, ensure_validated, render
from detector.rule import Rule, load_rule


@dataclass
class Session:
    """A rule bound to its parameters, its tables registered on an engine and `now` pinned: ready to execute
    (the rule itself, or explain's counts and views)."""

    rule: Rule
    engine: Engine
    bindings: Bindings
    names: dict[str, str]  # table -> SQL name on the engine

    def render(self, **kwargs: Any) -> Rendered:
        return render(self.rule, self.bindings, source=self.names.__getitem__, dialect=self.engine.dialect, **kwargs)

    def execute(self, progress: Callable[[float], None] | None = None, **kwargs: Any) -> pa.Table:
        return self.engine.execute(self.render(**kwargs).sql, progress)


def as_rule(rule: str | Rule | None, rules_dirs: tuple[str, ...] = ()) -> Rule:
    return rule if isinstance(rule, Rule) else load_rule(rule, rules_dirs)


@contextmanager
def session(
    rule: str | Rule | None,
    *,
    data: str | Path | None = None,
    tables: Mapping[str, str] | None = None,
    now: str | datetime | None = None,
    params: Mapping[str, Any] | None = None,
    engine: str = "duckdb",
    rules_dirs: tuple[str, ...] = (),
    prune: bool = True,
    **engine_options: Any,
) -> Iterator[Session]:
    """Open an engine, register the rule's tables and pin `now`; the engine is closed on exit.

    prune: skip Delta/Iceberg files too old for the rule's result (rule.toml `since`); explain, which counts the
    rows of every stage, turns it off."""
    loaded = as_rule(rule, rules_dirs)
    bindings = bind(loaded, params)  # bad parameters and engine options fail before any work
    ensure_validated(loaded)  # once per content of the rule's files: runs then skip parsing their SQL
    start = check_engine(engine, **engine_options)
    fixed = None if is_latest(now) else resolve_now(loaded, None, {}, now)  # one instant for pruning and the run
    found = None
    if not in_database(engine, engine_options):
        found = sources.resolve(loaded, data, dict(tables or {}))
        if prune:
            found = pruned(loaded, found, bindings, fixed)
    elif data is not None:
        raise ValueError(
            f"--engine {engine} reads the rule's tables in its database (--table NAME=schema.table): no --data"
        )
    running = start()
    try:
        if found is None:
            names = running.register_connection_tables(loaded, dict(tables or {}))
        else:
            names = running.register(loaded, found)
        pinned = replace(bindings, now=fixed or resolve_now(loaded, running, names, now))
        yield Session(loaded, running, pinned, names)
    finally:
        running.close()


def in_database(engine: str, options: Mapping[str, Any]) -> bool:
    """Whether the engine runs on tables already in a database (registered with register_connection_tables,
    `tables` naming them there, default their own names) rather than on Parquet files: when given a `connection`,
    and always for an engine class that says IN_DATABASE = True (PostgreSQL). A connection URL (a string) is for
    the engine classes that say CONNECTION_URLS."""
    connection = options.get("connection")
    if isinstance(connection, str) and not getattr(engine_class(engine), "CONNECTION_URLS", ()):
        takers = " or ".join(n for n in ENGINES if getattr(engine_class(n), "CONNECTION_URLS", ()))
        raise ParamError("--connection", f"a connection URL applies to --engine {takers} only")
    return connection is not None or getattr(engine_class(engine), "IN_DATABASE", False)


def is_latest(now: str | datetime | None) -> bool:
    return isinstance(now, str) and now.strip().lower() == "latest"


def pruned(
    rule: Rule, tables: dict[str, sources.Table], bindings: Bindings, now: datetime | None
) -> dict[str, sources.Table]:
    """The tables without the lake files too old for the rule. For `--now latest` (known only once the tables are
    read) the newest time the clock table's file statistics record stands in: `now` is at least that, so
    pruning from it keeps every file the run could need."""
    if not any(t.newest for t in tables.values()):
        return tables
    if now is None:
        clock_table, _ = rule.clock
        known = [n for n in tables[clock_table].newest if n is not None] if clock_table in tables else []
        if not known:
            return tables
        now = max(known)
    return sources.prune(rule, tables, now, dict(bindings.values))


def resolve_now(rule: Rule, engine: Engine | None, names: dict[str, str], now: str | datetime | None) -> datetime:
    """`now` for the run: an instant, 'now' / None = the current UTC time, 'latest' = the newest value of the
    rule's clock column (rule.toml `clock`)."""
    if now is None or (isinstance(now, str) and now.strip().lower() == "now"):
        return datetime.now(UTC)
    if is_latest(now):
        table, column = rule.clock
        newest = engine.clock(names[table], column)
        if newest is None:
            raise SourceError(f"--now latest: {table} has no rows with a {column}")
        return newest
    return parse_instant("now", now)


@dataclass(frozen=True)
class Result:
    """A run's records and the instant it ran at (`now` resolved: the current time, `latest` or the one given)."""

    table: pa.Table
    now: datetime


def run_table(rule: str | Rule | None = None, **kwargs: Any) -> pa.Table:
    """Run a rule and return its result as Arrow (the rule's output columns, or its flat rows); the arguments are
    run_result's."""
    return run_result(rule, **kwargs).table


def run_result(
    rule: str | Rule | None = None,
    *,
    data: str | Path | None = None,
    tables: Mapping[str, str] | None = None,
    now: str | datetime | None = None,
    params: Mapping[str, Any] | None = None,
    flat: bool = False,
    plan: str | None = None,
    engine: str = "duckdb",
    rules_dirs: tuple[str, ...] = (),
    progress: Callable[[float], None] | None = None,
    **engine_options: Any,
) -> Result:
    """Run a rule: its result as Arrow (the rule's output columns, or its flat rows) and the instant it ran at.

    rule: a slug (None while exactly one rule is installed) or a loaded Rule.
    data / tables: a folder, or table name -> Parquet file, folder or glob (local or s3://).
    engine: one of detector.engines.ENGINES: "duckdb" (default), "spark", "postgres", "clickhouse"; engine options:
    threads, memory_limit, spill_dir, connection (DuckDB: run on tables already in this connection, `tables` then
    naming them there); spark_master, spark_session; connection (Postgres, required: a postgresql:// URL or a
    pg8000 connection; `tables` names the rule's tables in the database, default their own names).
    plan: one of the rule's plans (default: the rule's default_plan); every plan gives the same rows.
    """
    with session(
        rule, data=data, tables=tables, now=now, params=params, engine=engine, rules_dirs=rules_dirs, **engine_options
    ) as s:
        return Result(s.execute(progress, flat=flat, plan=plan), s.bindings.now)


def run_rule(rule: str | Rule | None = None, **kwargs: Any) -> list[dict]:
    """As run_table, as Python records: ints, None, lists, dicts, aware UTC datetimes."""
    return run_table(rule, **kwargs).to_pylist()
