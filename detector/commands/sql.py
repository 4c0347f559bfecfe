"""`detector sql`: print the rendered DuckDB SQL, headed by the parameter values it uses."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Annotated

import typer

from detector.commands import common
from detector.export import comment_value
from detector.output import iso
from detector.params import bind
from detector.render import render
from detector.rule import load_rule


def sql(
    now: common.Now = None,
    flat: Annotated[bool, typer.Option("--flat", help="End at the one-row-per-connection stage.")] = False,
    plan: Annotated[
        str,
        typer.Option(help="fast (what run executes) or straight (the KQL as written, one CTE per let and stage)."),
    ] = "fast",
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
    """Print the SQL `detector run` would execute on DuckDB, with the parameter values it binds.

    The tables appear as views named DeviceInfo and DeviceNetworkEvents. `--now latest` needs data, so here
    `now` is an ISO-8601 instant or the current time.
    """
    loaded = load_rule(rule)
    params = common.rule_params(locals(), param)
    if now is not None and now.strip().lower() == "latest":
        raise common.ParamError("now", "'latest' needs data: use `detector run --now latest`")
    when = datetime.now(UTC) if now is None or now.strip().lower() == "now" else now
    bindings = bind(loaded, params, now=when)
    typer.echo(f"-- rule: {loaded.name} ({loaded.slug})")
    typer.echo(f"-- now = {iso(bindings.now)}")
    for name, value in bindings.values.items():
        typer.echo(f"-- {name} = {comment_value(value)}")
    typer.echo(f"-- plan = {plan}")
    typer.echo(render(loaded, bindings, flat=flat, plan=plan).sql + ";")
