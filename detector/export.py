"""Export the rule as one self-contained SQL statement for a warehouse or cluster engine.

The statement is the same CTE chain `detector run` executes on DuckDB, rendered for the target dialect (see
detector/dialects.py for what differs). Tables are named by `--table NAME=catalog.schema.table` mappings, each
part validated as a plain identifier and quoted by sqlglot. `now` is the engine's clock, read once per query,
unless pinned.
"""

from __future__ import annotations

import json
import re
from collections.abc import Mapping
from datetime import timedelta

from sqlglot import exp

from detector import dialects
from detector.errors import ParamError
from detector.output import iso
from detector.params import Bindings
from detector.render import render
from detector.rule import Rule

SHAPES = ("nested", "flat")
_IDENT = re.compile(r"^[A-Za-z_][A-Za-z0-9_]*$")
_BIGQUERY_PROJECT = re.compile(r"^[A-Za-z][A-Za-z0-9_-]*$")  # project ids may hold hyphens: my-project


def table_name(qualified: str, dialect: dialects.Dialect) -> str:
    """`table`, `schema.table` or `catalog.schema.table` as a quoted table reference in the dialect."""
    parts = qualified.strip().split(".")
    if not 1 <= len(parts) <= 3:
        raise ParamError("--table", f"{qualified!r}: give table, schema.table or catalog.schema.table")
    for i, part in enumerate(parts):
        project = dialect.name == "bigquery" and len(parts) == 3 and i == 0
        if not (_BIGQUERY_PROJECT if project else _IDENT).match(part):
            raise ParamError(
                "--table",
                f"{qualified!r}: {part!r} is not a plain identifier (letters, digits, _; not starting with a digit)",
            )
    names = [exp.to_identifier(p, quoted=True) for p in parts]
    table = exp.Table(
        this=names[-1], db=names[-2] if len(names) > 1 else None, catalog=names[0] if len(names) > 2 else None
    )
    return table.sql(dialect=dialect.sqlglot)


def table_sources(rule: Rule, mapping: Mapping[str, str], dialect: dialects.Dialect) -> dict[str, str]:
    """Every table the rule reads, as SQL: mapped, or its own name."""
    unknown = sorted(set(mapping) - set(rule.tables))
    if unknown:
        raise ParamError("--table", f"{unknown[0]}: the rule reads no such table (it reads {', '.join(rule.tables)})")
    return {name: table_name(mapping.get(name, name), dialect) for name in rule.tables}


def export_sql(
    rule: Rule,
    bindings: Bindings,
    *,
    dialect: str,
    tables: Mapping[str, str] | None = None,
    shape: str = "nested",
) -> str:
    """The rule as one statement for `dialect` (no trailing semicolon)."""
    if shape not in SHAPES:
        raise ParamError("--shape", f"{shape!r} is not one of {', '.join(SHAPES)}")
    target = dialects.get(dialect)
    names = table_sources(rule, tables or {}, target)
    return render(rule, bindings, source=names.__getitem__, dialect=target.name, flat=shape == "flat").sql


def comment_value(value: object) -> str:
    """A parameter value for a `--` comment line: strings and lists as JSON, so no value can end the comment.
    Used by `detector export` and `detector sql` alike."""
    if value is None:
        return "(not set)"
    if isinstance(value, timedelta):
        return f"{value} ({value.total_seconds():g}s)"
    if isinstance(value, tuple):
        return json.dumps(list(value))
    return json.dumps(value) if isinstance(value, str) else str(value)


def export_script(
    rule: Rule,
    bindings: Bindings,
    *,
    dialect: str,
    tables: Mapping[str, str] | None = None,
    shape: str = "nested",
) -> str:
    """The statement headed by comments naming the rule, the dialect, the tables and the parameter values."""
    target = dialects.get(dialect)
    sql = export_sql(rule, bindings, dialect=dialect, tables=tables, shape=shape)
    names = table_sources(rule, tables or {}, target)
    columns = ", ".join(rule.shape(shape == "flat").columns)
    lines = [
        f"-- rule: {rule.name} ({rule.slug})",
        f"-- dialect: {target.title} ({target.name}); shape: {shape} ({columns})",
        "-- now = " + (iso(bindings.now) if bindings.now else "the engine's current timestamp, read once per query"),
    ]
    lines += [f"-- {name} = {comment_value(value)}" for name, value in bindings.values.items()]
    lines += [f"-- table {name} = {sql_name}" for name, sql_name in names.items()]
    return "\n".join(lines) + "\n" + sql + ";\n"
