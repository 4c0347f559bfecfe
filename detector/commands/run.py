"""`detector run`: run the rule on Parquet and print or write the alerts."""

from __future__ import annotations

import sys
from pathlib import Path
from typing import Annotated

import typer

from detector import engine
from detector.commands import common
from detector.output import FORMATS, write
from detector.params import bind
from detector.rule import load_rule


def run(
    data: common.Data = None,
    table: common.Tables = None,
    now: common.Now = None,
    fmt: Annotated[
        str | None,
        typer.Option(
            "--format",
            help=f"Output format: {', '.join(FORMATS)}. Default: table on a terminal, jsonl otherwise.",
            show_default=False,
        ),
    ] = None,
    output: Annotated[
        Path | None,
        typer.Option("--output", "-o", help="Write to this file (atomically) instead of stdout.", show_default=False),
    ] = None,
    flat: Annotated[
        bool,
        typer.Option(
            "--flat",
            help="One row per (DeviceName, RemoteIP, RemotePort) with Count, starttime, endtime, Prevalence and "
            "URLs, instead of one record per device.",
        ),
    ] = False,
    fail_on_alert: Annotated[
        bool, typer.Option("--fail-on-alert", help="Exit with code 1 when there is at least one alert.")
    ] = False,
    threads: Annotated[int | None, typer.Option(help="DuckDB worker threads (default: all cores).")] = None,
    memory_limit: Annotated[
        str | None, typer.Option(help="DuckDB memory limit, e.g. 2GB (default: DuckDB's, 80% of RAM).")
    ] = None,
    rule: common.RuleSlug = None,
    lookback: common.Lookback = None,
    new_window: common.NewWindow = None,
    prevalence_window: common.PrevalenceWindow = None,
    max_vendor_servers: common.MaxVendorServers = None,
    max_prevalence: common.MaxPrevalence = None,
    excluded_action_types: common.ExcludedActionTypes = None,
    excluded_ip_types: common.ExcludedIpTypes = None,
    param: common.Params = None,
) -> None:
    """Run the rule and print one record per alerting device (exit 0 with or without alerts)."""
    fmt = fmt or ("table" if sys.stdout.isatty() and output is None else "jsonl")
    if fmt not in FORMATS:
        raise common.ParamError("--format", f"{fmt!r} is not one of {', '.join(FORMATS)}")
    loaded = load_rule(rule)
    params = common.rule_params(locals(), param)
    bindings = bind(loaded, params)
    con = engine.connect(threads=threads, memory_limit=memory_limit)
    try:
        bindings, found = engine.prepare(
            con, loaded, bindings, data=data, tables=common.parse_pairs("--table", table), now=now
        )
        result = engine.execute(con, loaded, bindings, found, flat=flat)
    finally:
        con.close()
    write(result.table, fmt, output, sys.stdout)
    if fail_on_alert and result.table.num_rows:
        raise typer.Exit(1)
