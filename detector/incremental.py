"""Stateful runs (`--state DIR`): a scheduled rule reads only what is new, and prints exactly what a stateless run
prints.

A rule declares, in rule.toml [state], the plan a stateful run executes and its partials: stages computed per
source file (a template summarizing the rows `{{ rows }}` of one table) whose results its plan combines through
`{{ partial('NAME') }}`. Per partial and run, each file of the table is classified by its time column's Parquet
statistics against the partial's window (rows with time > now - window):

- wholly inside (every row newer than the window's start): its summary is read from the state, or computed once
  from the file and stored, keyed by the file's path, size and modification time (or ETag) and by the values of
  the parameters the partial reads; a new, changed or replaced file has a new key, a deleted one is not listed;
- wholly outside (every row at or before the start, or no rows): not opened;
- across the start, or without statistics (e.g. a time kept as text): read raw, with the window's exact
  predicate, every run (`detector.render.PartialInput.crossing`).

The summaries of every file are combined by the plan's own SQL (sums of counts, min and max, distinct values), so
the records are the stateless run's, byte for byte (tests/test_incremental.py runs sequences of both).

`--new-only` (rule.toml [state] identity: columns of the rule's flat rows) prints only the records whose flat rows
were not printed by an earlier run with the same state: the flat rows are computed, those already printed dropped,
and the rest of the chain runs on the remainder; the identities printed are committed with the state.

Nothing is committed unless the `with run(...)` block ends without an error: the caller writes the output inside
it, so a failed or killed run leaves the previous state, and the next run prints again what this one could not.
"""

from __future__ import annotations

import contextlib
import hashlib
import os
from collections.abc import Iterator, Mapping
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any

from detector import api
from detector.errors import ParamError
from detector.lake import utc_instant
from detector.literals import sql_identifier, sql_literal
from detector.render import PartialInput, render_partial
from detector.rule import Partial, Rule
from detector.state import State, open_state, values_hash
from detector.storage import store_for

# Statistics may be finer than the microseconds a run reads (a nanosecond timestamp is truncated): a file counts
# as wholly inside only when its oldest row is this much newer than the window's start.
MARGIN = timedelta(milliseconds=1)
EMPTY = "empty"  # a file without rows


@dataclass
class Counts:
    """How a run read one partial's table: files whose summary was reused or computed, read raw, not opened."""

    reused: int = 0
    computed: int = 0
    crossing: int = 0
    outside: int = 0


@dataclass
class Report:
    partials: dict[str, Counts] = field(default_factory=dict)
    notes: list[str] = field(default_factory=list)


# ---- one file's time range, from its Parquet statistics ---------------------------------------------------------


def time_range(path: str, column: str) -> tuple[datetime, datetime] | str | None:
    """(oldest, newest) of `column` in the file by its row groups' statistics, EMPTY for a file without rows, None
    when unknown (no statistics, the column missing, or not a timestamp). Naive values are UTC, as the views read
    them."""
    import pyarrow.parquet as pq

    try:
        with store_for(path).open(path) as fh:
            meta = pq.ParquetFile(fh).metadata
    except Exception:  # unreadable here: the run reads it raw and reports what is wrong with it
        return None
    if meta.num_rows == 0:
        return EMPTY
    schema = meta.schema
    index = next((i for i in range(len(schema)) if schema.column(i).path.lower() == column.lower()), None)
    if index is None:
        return None
    lows, highs = [], []
    for g in range(meta.num_row_groups):
        if meta.row_group(g).num_rows == 0:
            continue
        stats = meta.row_group(g).column(index).statistics
        if stats is None or not stats.has_min_max:
            return None
        low, high = utc_instant(stats.min), utc_instant(stats.max)
        if low is None or high is None:
            return None
        lows.append(low)
        highs.append(high)
    return (min(lows), max(highs)) if lows else EMPTY


def file_key(path: str) -> tuple[str, dict]:
    """A key that changes when the file does (path, size, modification time or ETag), and what it was made of."""
    path, size, stamp = store_for(path).signature(path)
    source = {"source": path, "size": size, "modified": stamp}
    return hashlib.sha256(f"{path}\n{size}\n{stamp}".encode()).hexdigest()[:32], source


# ---- the partials of one run -----------------------------------------------------------------------------------


def prepare(session: api.Session, state: State, report: Report) -> dict[str, PartialInput]:
    """Each partial's input: the stored summaries of the files wholly inside its window (computing and storing the
    missing ones), and a view of the files across its start."""
    rule, engine, bindings = session.rule, session.engine, session.bindings
    assert rule.state is not None and bindings.now is not None
    inputs = {}
    for name, partial in rule.state.partials.items():
        counts = report.partials.setdefault(name, Counts())
        start = bindings.now - bindings.values[partial.window]
        params = values_hash({k: bindings.values[k] for k in partial.params})
        stored, crossing = [], []
        for path in engine.tables[partial.table].files:
            span = time_range(path, partial.time)
            if span == EMPTY or (isinstance(span, tuple) and span[1] <= start):
                counts.outside += 1
            elif isinstance(span, tuple) and span[0] > start + MARGIN:
                key, source = file_key(path)
                local = state.stored(name, params, key)
                if local is None:
                    local = _summarize(session, state, partial, path, key, source, params)
                    counts.computed += 1
                else:
                    counts.reused += 1
                stored.append(local)
            else:
                crossing.append(path)
                counts.crossing += 1
        view = engine.register_files(partial.table, crossing, f"detector__crossing_{name}") if crossing else None
        inputs[name] = PartialInput(stored=tuple(stored), crossing=view)
    return inputs


def _summarize(
    session: api.Session, state: State, partial: Partial, path: str, key: str, source: dict, params: str
) -> str:
    """One file's summary: the partial's template over the file's rows (all inside the window: every row with a
    time), written to Parquet and stored under the file's key."""
    engine = session.engine
    view = engine.register_files(partial.table, [path], "detector__file")
    where = f"{sql_identifier(partial.time)} IS NOT NULL"
    sql = render_partial(session.rule, session.bindings, partial.name, view, where)
    local = os.path.join(state.folder.scratch(), f"{partial.name}-{key}.parquet")
    rows = engine.copy_to_parquet(sql, local)
    return state.add(partial.name, params, key, source, local, rows)


# ---- --new-only --------------------------------------------------------------------------------------------------


def _new_only(session: api.Session, state: State, inputs: dict, flat: bool, progress: Any) -> Any:
    """The records of the flat rows no earlier run printed; the identities of all printed rows staged for commit."""
    rule, con = session.rule, session.engine.con
    assert rule.state is not None and rule.flat_stage is not None
    every = session.render(flat=True, order=False, plan=rule.state.plan, partials=inputs).sql
    con.execute(f"CREATE OR REPLACE TEMP TABLE detector__flat_all AS {every}")
    identity = [sql_identifier(c) for c in rule.state.identity]
    printed = state.printed()
    if printed is None:
        fresh = "SELECT * FROM detector__flat_all"
        seen = None
    else:
        seen = f"read_parquet({sql_literal(printed)})"
        match = " AND ".join(f"p.{c} IS NOT DISTINCT FROM f.{c}" for c in identity)
        fresh = f"SELECT * FROM detector__flat_all AS f WHERE NOT EXISTS (SELECT 1 FROM {seen} AS p WHERE {match})"
    con.execute(f"CREATE OR REPLACE TEMP TABLE detector__flat_new AS {fresh}")
    table = session.execute(
        progress, flat=flat, plan=rule.state.plan, start=(rule.flat_stage.name, "detector__flat_new")
    )
    columns = ", ".join(identity)
    union = f"SELECT DISTINCT {columns} FROM detector__flat_new"
    if seen is not None:
        union = f"SELECT {columns} FROM {seen} UNION ALL {union}"
    local = os.path.join(state.folder.scratch(), "printed.parquet")
    rows = session.engine.copy_to_parquet(union, local)
    state.set_printed(local, rows)
    return table


# ---- the run -----------------------------------------------------------------------------------------------------


@contextlib.contextmanager
def run(
    rule: Rule,
    *,
    state_dir: str | Path,
    new_only: bool = False,
    lock_timeout: float = 60,
    flat: bool = False,
    data: str | Path | None = None,
    tables: Mapping[str, str] | None = None,
    now: str | datetime | None = None,
    params: Mapping[str, Any] | None = None,
    progress: Any = None,
    report: Report | None = None,
    **engine_options: Any,
) -> Iterator[api.Result]:
    """A stateful run of `rule` (DuckDB): yields its result; commits the state when the block ends without error."""
    if rule.state is None:
        raise ParamError("--state", f"rule {rule.slug} declares no [state] in its rule.toml: run it without --state")
    if new_only and not rule.state.identity:
        raise ParamError("--new-only", f"rule {rule.slug} declares no [state] identity")
    if engine_options.get("engine", "duckdb") != "duckdb" or engine_options.get("connection") is not None:
        raise ParamError("--state", "stateful runs read Parquet files with --engine duckdb")
    engine_options.pop("engine", None)
    report = report if report is not None else Report()
    with open_state(str(state_dir), rule, lock_timeout) as state:
        report.notes = state.notes
        with api.session(rule, data=data, tables=tables, now=now, params=params, **engine_options) as s:
            inputs = prepare(s, state, report)
            if new_only:
                table = _new_only(s, state, inputs, flat, progress)
            else:
                table = s.execute(progress, flat=flat, plan=rule.state.plan, partials=inputs)
            yield api.Result(table, s.bindings.now)
        state.commit()
