"""`detector export`: the rule as one SQL statement for a warehouse or cluster engine."""

from __future__ import annotations

import sys
from pathlib import Path
from typing import Annotated

import typer

from detector.commands import common
from detector.dialects import EXPORT_DIALECTS
from detector.export import SHAPES, export_script
from detector.output import atomic_file
from detector.params import bind
from detector.rule import load_rule


def export(
    dialect: Annotated[
        str,
        typer.Option("--dialect", help=f"Target engine: {', '.join(EXPORT_DIALECTS)}.", show_default=False),
    ],
    table: Annotated[
        list[str] | None,
        typer.Option(
            "--table",
            metavar="NAME=[CATALOG.][SCHEMA.]TABLE",
            help="Read table NAME (DeviceInfo, DeviceNetworkEvents) from this table; each part a plain identifier, "
            "quoted in the output, so give it as the engine stores it. Repeatable. Default: the table's own name.",
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
            help="nested: one row per device, DeviceName + set_Details (the rule's output); flat: one row per "
            "(DeviceName, RemoteIP, RemotePort), as `run --flat`.",
        ),
    ] = "nested",
    output: Annotated[
        Path | None,
        typer.Option("--output", "-o", help="Write to this file (atomically) instead of stdout.", show_default=False),
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
) -> None:
    """Print one self-contained SQL statement that runs the rule on Snowflake, BigQuery, Spark / Databricks,
    Trino, PostgreSQL, ClickHouse or DuckDB, with the alerts `detector run` gives (see docs/export.md)."""
    if dialect not in EXPORT_DIALECTS:
        raise common.ParamError("--dialect", f"{dialect!r} is not one of {', '.join(EXPORT_DIALECTS)}")
    if shape not in SHAPES:
        raise common.ParamError("--shape", f"{shape!r} is not one of {', '.join(SHAPES)}")
    if now is not None and now.strip().lower() in ("now", "latest"):
        raise common.ParamError("now", "leave --now out to use the engine's clock; pin it with an ISO-8601 instant")
    loaded = load_rule(rule)
    bindings = bind(loaded, common.rule_params(locals(), param), now=now)
    script = export_script(loaded, bindings, dialect=dialect, tables=common.parse_pairs("--table", table), shape=shape)
    if output is None:
        sys.stdout.write(script)
        return
    with atomic_file(output) as fh:
        fh.write(script)
