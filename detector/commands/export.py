"""`detector export`: the rule as one SQL statement for a warehouse or cluster engine."""

from __future__ import annotations

import sys
from pathlib import Path
from typing import Annotated

import typer

from detector.commands import common
from detector.dialects import EXPORT_DIALECTS
from detector.errors import ParamError
from detector.export import SHAPES, export_script
from detector.output import atomic_file
from detector.params import bind


def export(
    rule: common.RuleArg = None,
    dialect: Annotated[
        str | None,
        typer.Option("--dialect", help=f"Target engine (required): {', '.join(EXPORT_DIALECTS)}.", show_default=False),
    ] = None,
    table: Annotated[
        list[str] | None,
        typer.Option(
            "--table",
            metavar="NAME=[CATALOG.][SCHEMA.]TABLE",
            help="Read the rule's table NAME from this table; each part a plain identifier, quoted in the output, so "
            "give it as the engine stores it. Repeatable. Default: the table's own name.",
            show_default=False,
        ),
    ] = None,
    now: Annotated[
        str | None,
        typer.Option(
            "--now",
            help="Pin the instant the rule runs at (ISO-8601, UTC when no zone is given). Default: the engine's "
            "current timestamp, read once per query, for scheduled runs.",
            show_default=False,
        ),
    ] = None,
    shape: Annotated[
        str,
        typer.Option(
            "--shape",
            help="nested: the rule's own output; flat: the rule's flat rows (rule.toml [output.flat]), as "
            "`run --flat`.",
        ),
    ] = "nested",
    output: Annotated[
        Path | None,
        typer.Option("--output", "-o", help="Write to this file (atomically) instead of stdout.", show_default=False),
    ] = None,
    param: common.Params = None,
    rules_dir: common.RulesDir = None,
) -> None:
    """Print one self-contained SQL statement that runs the rule on Snowflake, BigQuery, Spark / Databricks,
    Trino, PostgreSQL, ClickHouse or DuckDB, with the records `detector run` gives (see docs/export.md)."""
    if dialect is None:
        raise ParamError("--dialect", f"required: one of {', '.join(EXPORT_DIALECTS)}")
    if dialect not in EXPORT_DIALECTS:
        raise ParamError("--dialect", f"{dialect!r} is not one of {', '.join(EXPORT_DIALECTS)}")
    if shape not in SHAPES:
        raise ParamError("--shape", f"{shape!r} is not one of {', '.join(SHAPES)}")
    if now is not None and now.strip().lower() in ("now", "latest"):
        raise ParamError("now", "leave --now out to use the engine's clock; pin it with an ISO-8601 instant")
    loaded = common.current_rule(rule, rules_dir)
    bindings = bind(loaded, common.rule_params(param), now=now)
    script = export_script(loaded, bindings, dialect=dialect, tables=common.parse_pairs("--table", table), shape=shape)
    if output is None:
        sys.stdout.write(script)
        return
    with atomic_file(output) as fh:
        fh.write(script)
