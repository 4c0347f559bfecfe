"""`detector run`: run the rule on Parquet and print or write the alerts."""

from __future__ import annotations

import sys
from pathlib import Path
from typing import Annotated

import typer

from detector import engine as engine_module
from detector.commands import common
from detector.output import FORMATS, write
from detector.params import bind
from detector.rule import load_rule

ENGINES = ("duckdb", "spark")


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
    engine: Annotated[
        str,
        typer.Option(
            "--engine",
            help="duckdb (in process) or spark: the rule's Spark SQL with PySpark over the same Parquet "
            "(pip install 'kql-detector[spark]'; needs Java 17+). Same records either way.",
        ),
    ] = "duckdb",
    spark_master: Annotated[
        str | None,
        typer.Option(
            "--spark-master",
            metavar="URL",
            help="--engine spark: the cluster to run on, e.g. spark://host:7077 (default: local[2], this machine). "
            "The Parquet paths must be readable from the cluster.",
            show_default=False,
        ),
    ] = None,
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
    privileged_servers: common.PrivilegedServers = None,
    trusted_urls: common.TrustedUrls = None,
    param: common.Params = None,
    spill_dir: Annotated[
        str | None,
        typer.Option(
            metavar="DIR",
            help="Where DuckDB spills when the run is larger than --memory-limit (default: a folder in the system "
            "temp directory, removed afterwards).",
            show_default=False,
        ),
    ] = None,
    plan: Annotated[
        str,
        typer.Option(
            help="Execution plan: fast (read the table once) or straight (the KQL as written, one CTE per stage; "
            "the same rows, slower: for checking)."
        ),
    ] = "fast",
) -> None:
    """Run the rule and print one record per alerting device (exit 0 with or without alerts)."""
    fmt = fmt or ("table" if sys.stdout.isatty() and output is None else "jsonl")
    if fmt not in FORMATS:
        raise common.ParamError("--format", f"{fmt!r} is not one of {', '.join(FORMATS)}")
    if engine not in ENGINES:
        raise common.ParamError("--engine", f"{engine!r} is not one of {', '.join(ENGINES)}")
    if engine == "spark":
        for option, value in (("--threads", threads), ("--memory-limit", memory_limit)):
            if value is not None:
                raise common.ParamError(option, "applies to the DuckDB engine only")
    elif spark_master is not None:
        raise common.ParamError("--spark-master", "applies to --engine spark only")
    loaded = load_rule(rule)
    params = common.rule_params(locals(), param)
    if engine == "spark":
        from detector import spark_engine

        alerts = spark_engine.run_table(
            data=data,
            tables=common.parse_pairs("--table", table),
            now=now,
            params=params,
            flat=flat,
            rule=rule,
            master=spark_master,
        )
        write(alerts, fmt, output, sys.stdout)
        if fail_on_alert and alerts.num_rows:
            raise typer.Exit(1)
        return
    bindings = bind(loaded, params)
    con = engine_module.connect(threads=threads, memory_limit=memory_limit, spill_dir=spill_dir)
    try:
        bindings, found = engine_module.prepare(
            con, loaded, bindings, data=data, tables=common.parse_pairs("--table", table), now=now
        )
        result = engine_module.execute(
            con, loaded, bindings, found, flat=flat, plan=plan, progress=common.progress_bar("running the rule")
        )
    finally:
        con.close()
        common.progress_done()
    write(result.table, fmt, output, sys.stdout)
    if fail_on_alert and result.table.num_rows:
        raise typer.Exit(1)
